import type { Principal } from '../api/keys.ts';
import { customerFor, historyFor, viewFor } from '../api/mask.ts';
import type { AuditEntry } from '../engine/audit.ts';
import { caseView } from '../engine/view.ts';
import type { Policy } from '../policy/policy.ts';
import { type Disclosures, WITHHELD } from '../privacy/projection.ts';
import { toSvg } from './diagram.ts';
import { escapeHtml, type PageUser, page } from './html.ts';
import { COUNTDOWN_JS } from './pages.ts';
import { type CaseDetail, type DeliveryState, HANDOFF_EFFECT } from './read.ts';

// The case page: facts, deadline clocks, the timeline from the audit trail, and the machine diagram
// with the case's state highlighted. Server-rendered; every value is escaped.

/** Whether the role sees customer data whole (decided by src/api/mask.ts, not repeated here). */
export function seesPersonalData(principal: Principal, policy: Policy): boolean {
  return customerFor({ id: 'x', name: 'xy' }, principal, policy).name === 'xy';
}

const badge = (text: string, kind: string) => `<span class="badge b-${escapeHtml(kind)}">${escapeHtml(text)}</span>`;

/** An audit entry's event fields, as projected for the viewer (withheld free text shows as such). */
function dataCell(data: Record<string, unknown> | undefined): string {
  if (!data) return '';
  return Object.entries(data)
    .map(([k, v]) => {
      const text = typeof v === 'string' ? v : JSON.stringify(v);
      const shown =
        v === WITHHELD
          ? `<span class="muted" title="withheld for this role (4.2)">${escapeHtml(text)}</span>`
          : escapeHtml(text);
      return `<div><span class="muted">${escapeHtml(k)}:</span> ${shown}</div>`;
    })
    .join('');
}

function effectBadges(entry: AuditEntry, deliveries: readonly DeliveryState[]): string {
  const out: string[] = [];
  const { effects, data } = entry;
  // A deadline event that carries a warning rung warned before the breach; it changes no clock.
  if (entry.event === 'DEADLINE' && data?.warning !== undefined) {
    out.push(badge(`${String(data.name ?? 'deadline')} warning ${String(data.warning)}`, 'warning'));
  }
  for (const effect of effects ?? []) {
    const handoff = HANDOFF_EFFECT.exec(effect);
    if (handoff) {
      out.push(badge(`hand-off → ${handoff[1]} (level ${handoff[2]})`, 'handoff'));
      continue;
    }
    const [name, status = ''] = effect.split(':');
    out.push(badge(`${name} ${status}`, status));
  }
  for (const d of deliveries) {
    const what = {
      notice: 'customer notice',
      handoff: 'hand-off package',
      coordination: 'coordination request',
      warning: 'warning',
    }[d.kind];
    const title = d.lastError ? ` title="${escapeHtml(d.lastError)}"` : '';
    out.push(
      `<span class="badge b-${d.kind === 'notice' ? 'notice' : 'handoff'}"${title}>${escapeHtml(what)}: ${escapeHtml(d.status)}</span>`,
    );
  }
  return out.join(' ');
}

function timelineRows(detail: CaseDetail, audit: readonly AuditEntry[]): string {
  return audit
    .map((e) => {
      const by = `${e.actor.name} (${e.actor.role}${e.actor.department ? ` ${e.actor.department}` : ''})`;
      const move = e.from === null ? `→ ${e.to}` : e.from === e.to ? e.to : `${e.from} → ${e.to}`;
      return `<tr data-v="${e.v}"><td class="num">${e.v}</td><td class="mono">${escapeHtml(e.at)}</td><td><strong>${escapeHtml(e.event)}</strong></td>
<td>${escapeHtml(move)}</td><td>${escapeHtml(e.clause)}</td><td>${escapeHtml(by)}</td>
<td>${effectBadges(e, detail.deliveries.get(e.v) ?? [])}</td><td>${dataCell(e.data)}</td></tr>`;
    })
    .join('\n');
}

export function casePage(opts: {
  nonce: string;
  user: PageUser;
  principal: Principal;
  detail: CaseDetail;
  /** The request's disclosures, for its access log (6.1). */
  disclosures: Disclosures;
}): string {
  const { detail, principal } = opts;
  const { stored, policy, graph } = detail;
  // 4.1 / 4.2: the same projections as the API (src/api/mask.ts), the description and the trail included.
  const view = viewFor(
    { ...caseView(stored, policy), description: stored.context.open.description },
    principal,
    policy,
    opts.disclosures,
  );
  const audit = historyFor(stored.context.caseId, detail.audit, principal, policy, opts.disclosures) as AuditEntry[];
  const sees = seesPersonalData(principal, policy);
  const c = view.customer;
  const customer = [c.id, c.name, c.phone, c.email].filter((v) => v !== undefined).join(' · ');
  const deadlines = view.deadlines
    .map((d) => {
      const due = d.dueAt ?? (d.remainingMs !== undefined ? `paused, ${Math.round(d.remainingMs / 1000)} s left` : '');
      const left =
        d.status === 'armed' && d.dueAt ? `<span class="left" data-due="${Date.parse(d.dueAt)}"></span>` : '';
      return `<tr data-deadline="${escapeHtml(d.name)}"><td>${escapeHtml(d.name)}</td><td>${badge(d.status, d.status)}</td>
<td class="mono">${escapeHtml(due)}</td><td>${left}</td><td>${escapeHtml(d.clause ?? '')}</td><td class="num">${d.epoch}</td></tr>`;
    })
    .join('\n');
  const e = view.escalation;
  const escalation = e
    ? `<dt>escalation</dt><dd>${escapeHtml(`${e.trigger} → ${policy.departments[e.department]?.name ?? e.department} (${e.department}), level ${e.level}, hand-off ${e.handoff}, clause ${e.clause}, at ${e.at}`)}</dd>`
    : '';
  const coordination = view.coordination
    ? `<dt>coordination</dt><dd>${escapeHtml(`${view.coordination.department}${view.coordination.replied ? ', replied' : ', waiting'}`)}</dd>`
    : '';
  const known = graph.states.some((s) => s.id === stored.state);
  const diagram = toSvg(graph, known ? { highlight: stored.state } : {});
  const shown =
    detail.auditTotal > detail.audit.length ? ` (the newest ${detail.audit.length} of ${detail.auditTotal})` : '';
  const body = `<p><a href="/ops">← Dashboard</a></p>
<section class="panel"><h2>Case <span class="mono" id="case-id">${escapeHtml(view.id)}</span> ${badge(view.state, 'armed')}</h2>
<dl class="facts">
<dt>contract</dt><dd>${escapeHtml(`${view.contractId} (policy version ${view.policyVersion})`)}</dd>
<dt>state</dt><dd id="case-state">${escapeHtml(view.state)} · version ${view.version}</dd>
<dt>category / channel</dt><dd>${escapeHtml(`${view.category} / ${view.channel}`)}</dd>
<dt>customer</dt><dd id="customer">${escapeHtml(customer)}</dd>
<dt>subject</dt><dd id="subject">${escapeHtml(view.subject ?? '')}</dd>
<dt>description</dt><dd id="description">${escapeHtml(view.description ?? '')}</dd>
${view.amount ? `<dt>amount</dt><dd>${escapeHtml(`${view.amount.amount} ${view.amount.currency}`)}</dd>` : ''}
<dt>flags</dt><dd>${escapeHtml(view.flags.join(', ') || '—')}</dd>
${escalation}${coordination}
<dt>opened / updated</dt><dd class="mono">${escapeHtml(`${view.createdAt} / ${view.updatedAt}`)}</dd>
</dl>${sees ? '' : `<p class="note" id="masked-note">Personal data is masked and free text withheld for role ${escapeHtml(principal.role)} (clause 4.2).</p>`}</section>
<section class="panel" id="deadlines"><h2>Deadlines</h2>
<table><thead><tr><th>deadline</th><th>status</th><th>due</th><th>time left</th><th>clause</th><th class="num">epoch</th></tr></thead>
<tbody>${deadlines || '<tr><td colspan="6" class="muted">none</td></tr>'}</tbody></table></section>
<section class="panel" id="diagram"><h2>State machine</h2>
<p class="note">Drawn from the machine definition of ${escapeHtml(`${policy.contract.id}@${policy.contract.version}`)}; the case's state ${known ? `<strong>${escapeHtml(stored.state)}</strong> is highlighted` : `${escapeHtml(stored.state)} is not in it`}. Events in a box are handled without leaving the state.</p>
<div class="diagram">${diagram}</div></section>
<section class="panel" id="timeline"><h2>Timeline${escapeHtml(shown)}</h2>
<table><thead><tr><th class="num">v</th><th>at</th><th>event</th><th>state</th><th>clause</th><th>by</th><th>deadlines, hand-offs, notices</th><th>details</th></tr></thead>
<tbody>${timelineRows(detail, audit)}</tbody></table></section>`;
  return page({ title: `Case ${view.id}`, nonce: opts.nonce, user: opts.user, body, script: COUNTDOWN_JS });
}
