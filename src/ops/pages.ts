import { embedJson, escapeHtml, type PageUser, page } from './html.ts';
import type { Summary } from './read.ts';

// The login page and the dashboard. The dashboard's panels are drawn in the browser from the JSON of
// GET /ops/api/summary (embedded at first, then polled), with textContent only: no HTML is built
// from data, so nothing in a case can inject markup.

export function loginPage(opts: { nonce: string; next: string; error?: string }): string {
  const alert = opts.error ? `<p class="alert" role="alert">${escapeHtml(opts.error)}</p>` : '';
  return page({
    title: 'Log in',
    nonce: opts.nonce,
    body: `<section class="panel error"><h2>Log in to the ops dashboard</h2>${alert}
<form class="login" method="post" action="/ops/login">
<label for="key">API key (role ops, supervisor or auditor)</label>
<input id="key" name="key" type="password" autocomplete="off" required autofocus>
<input type="hidden" name="next" value="${escapeHtml(opts.next)}">
<button type="submit">Log in</button></form>
<p class="note">The key is checked once and not kept: the browser gets a session cookie that expires.</p></section>`,
    // A link from another site arrives without the SameSite=Strict cookie: ask again from this origin.
    script: `fetch('/ops/api/session',{credentials:'same-origin'}).then(function(r){if(r.ok)location.replace(${JSON.stringify(opts.next)});});`,
  });
}

const PANELS = `
<section class="panel" id="panel-at-risk"><h2>At risk — soonest due deadlines</h2>
<table><thead><tr><th>time left</th><th>due</th><th>case</th><th>deadline</th><th>clause</th><th>state</th><th>contract</th><th>category / channel</th></tr></thead>
<tbody id="at-risk"></tbody></table><p class="note" id="at-risk-note"></p></section>
<div class="grid">
<section class="panel" id="panel-states"><h2>Cases by state</h2>
<table><thead><tr><th>state</th><th class="num">cases</th></tr></thead><tbody id="states"></tbody></table>
<h2>Open cases by contract</h2>
<table><thead><tr><th>contract</th><th>state</th><th class="num">cases</th></tr></thead><tbody id="by-contract"></tbody></table>
<p class="note" id="by-contract-note"></p></section>
<section class="panel" id="panel-queues"><h2>Queues</h2>
<table><thead><tr><th>queue</th><th class="num">waiting</th><th class="num">active</th><th class="num">delayed</th><th class="num">prioritized</th><th class="num">failed</th><th class="num">completed</th><th>paused</th></tr></thead>
<tbody id="queues"></tbody></table><p class="note" id="queues-note"></p></section>
</div>
<div class="grid">
<section class="panel" id="panel-breaches"><h2>Recent breaches</h2>
<table><thead><tr><th>breached</th><th>case</th><th>deadline</th><th>clause</th><th>state now</th><th>escalated to</th></tr></thead>
<tbody id="breaches"></tbody></table></section>
<section class="panel" id="panel-escalations"><h2>Escalations (open hand-offs)</h2>
<table><thead><tr><th>escalated</th><th>case</th><th>trigger</th><th>to</th><th class="num">level</th><th>hand-off</th><th>clause</th></tr></thead>
<tbody id="escalations"></tbody></table></section>
</div>
<section class="panel" id="panel-dead"><h2>Dead-lettered deliveries <span class="muted" id="dead-total"></span></h2>
<table><thead><tr><th>dead since</th><th>delivery</th><th>type</th><th>last error</th></tr></thead>
<tbody id="dead"></tbody></table><p class="note">Re-send with <code>intervene deliveries redrive ID</code> (or <code>--all</code>).</p></section>
<p class="note" id="updated"></p>`;

/** Formats the time left to a due time: `4m 10s`, `2h 5m`, `3d 4h`, `overdue 12s`. */
const TIME_LEFT_JS = `function timeLeft(ms){var s=Math.round(Math.abs(ms)/1000),d=Math.floor(s/86400),h=Math.floor(s%86400/3600),m=Math.floor(s%3600/60),x=s%60;
var t=d?d+'d '+h+'h':h?h+'h '+m+'m':m?m+'m '+x+'s':x+'s';return ms<0?'overdue '+t:t;}
function when(ms){var d=new Date(ms),p=function(n){return String(n).padStart(2,'0');};return d.getFullYear()+'-'+p(d.getMonth()+1)+'-'+p(d.getDate())+' '+p(d.getHours())+':'+p(d.getMinutes())+':'+p(d.getSeconds());}
var skew=0;
function tick(){var now=Date.now()+skew;document.querySelectorAll('[data-due]').forEach(function(el){var ms=Number(el.getAttribute('data-due'))-now;
el.textContent=timeLeft(ms);el.classList.toggle('overdue',ms<0);el.classList.toggle('soon',ms>=0&&ms<300000);});}`;

const DASHBOARD_JS = `${TIME_LEFT_JS}
function cell(tr,text,cls){var td=document.createElement('td');td.textContent=text==null?'':String(text);if(cls)td.className=cls;tr.appendChild(td);return td;}
function caseCell(tr,id){var td=document.createElement('td'),a=document.createElement('a');a.href='/ops/cases/'+encodeURIComponent(id);a.textContent=id;a.className='mono';td.appendChild(a);tr.appendChild(td);}
function fill(id,rows,draw,empty,cols){var body=document.getElementById(id);body.replaceChildren();rows.forEach(function(r){var tr=document.createElement('tr');draw(tr,r);body.appendChild(tr);});
if(rows.length===0){var tr=document.createElement('tr'),td=cell(tr,empty,'muted');td.colSpan=cols;body.appendChild(tr);}}
function render(s){skew=s.now-Date.now();
fill('at-risk',s.atRisk,function(tr,r){tr.setAttribute('data-case',r.caseId);var td=cell(tr,'','left');td.setAttribute('data-due',r.dueAt);cell(tr,when(r.dueAt));caseCell(tr,r.caseId);
cell(tr,r.deadline);cell(tr,r.clause);cell(tr,r.state);cell(tr,r.contractId);cell(tr,r.category+' / '+r.channel);},'no armed deadlines',8);
document.getElementById('at-risk-note').textContent='The '+s.limits.list+' soonest wake-up timers over all partitions; time left counts down live and the list refreshes every few seconds.';
fill('states',s.states,function(tr,r){cell(tr,r.state);cell(tr,r.count,'num');},'no states',2);
fill('by-contract',s.byContract,function(tr,r){cell(tr,r.contractId);cell(tr,r.state);cell(tr,(r.exact?'':'≥ ')+r.count,'num');},'no open cases',3);
document.getElementById('by-contract-note').textContent=s.byContract.some(function(r){return !r.exact;})?'≥: counted over the newest '+s.limits.sample+' cases of that state.':'';
fill('queues',s.queues,function(tr,q){cell(tr,q.name,'mono');['waiting','active','delayed','prioritized','failed','completed'].forEach(function(k){cell(tr,q.counts[k]||0,'num');});cell(tr,q.paused?'paused':'');},'no queues',8);
document.getElementById('queues-note').textContent='Stale timers dropped (invariant 5): '+s.staleTimersDropped+'. Jobs in detail: Queues.';
fill('breaches',s.breaches,function(tr,r){cell(tr,when(r.at));caseCell(tr,r.caseId);cell(tr,r.deadline);cell(tr,r.clause);cell(tr,r.state);cell(tr,r.escalatedTo?r.escalatedTo+' (level '+r.level+')':'');},'no breaches',6);
fill('escalations',s.escalations,function(tr,r){cell(tr,when(r.at));caseCell(tr,r.caseId);cell(tr,r.trigger);cell(tr,r.departmentName+' ('+r.department+')');cell(tr,r.level,'num');cell(tr,r.handoff);cell(tr,r.clause);},'no open hand-offs',7);
document.getElementById('dead-total').textContent='('+s.dead.total+(s.dead.total>s.dead.items.length?', oldest '+s.dead.items.length+' shown':'')+')';
fill('dead',s.dead.items,function(tr,r){cell(tr,r.deadSince);cell(tr,r.id,'mono');cell(tr,r.type);cell(tr,r.lastError);},'no dead letters',4);
document.getElementById('updated').textContent='Updated '+when(s.now)+'.';tick();}
render(JSON.parse(document.getElementById('ops-data').textContent));setInterval(tick,1000);
function poll(){fetch('/ops/api/summary',{credentials:'same-origin',headers:{accept:'application/json'}}).then(function(r){
if(r.status===401){location.assign('/ops/login?next=%2Fops');return;}if(!r.ok)throw new Error('HTTP '+r.status);return r.json().then(render);})
.catch(function(e){document.getElementById('updated').textContent='Refresh failed ('+e.message+'); retrying.';});}
setInterval(poll,POLL_MS);`;

export function dashboardPage(opts: { nonce: string; user: PageUser; summary: Summary; pollMs: number }): string {
  return page({
    title: 'Dashboard',
    nonce: opts.nonce,
    user: opts.user,
    body: `${PANELS}<script type="application/json" id="ops-data">${embedJson(opts.summary)}</script>`,
    script: DASHBOARD_JS.replace('POLL_MS', String(opts.pollMs)),
  });
}

/** The live countdown alone, for the case page's armed deadlines. */
export const COUNTDOWN_JS = `${TIME_LEFT_JS}\ntick();setInterval(tick,1000);`;
