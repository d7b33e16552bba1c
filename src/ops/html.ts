import { randomBytes } from 'node:crypto';

// HTML for the ops pages: escaping (every value that reaches a page goes through `escapeHtml`, case
// subjects and audit texts are user input) and the shell every page shares, self-contained under a
// strict Content-Security-Policy: inline CSS and JS carry a per-response nonce, nothing is fetched
// from another origin.

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ENTITIES[c] as string);
}

/** The same escaping is right for SVG text and attribute values. */
export const escapeXml = escapeHtml;

/** JSON to embed in a `<script type="application/json">`: `<` can never close the element. */
export function embedJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026');
}

export const newNonce = () => randomBytes(16).toString('base64');

/** The Content-Security-Policy of our own pages: nothing but this origin, inline code only with the nonce. */
export function pageCsp(nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src 'nonce-${nonce}'`,
    "img-src 'self' data:",
    "connect-src 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');
}

/** Bull Board's UI is a prebuilt React bundle with inline style attributes: same-origin only, styles inline. */
export const BOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'self'",
  "object-src 'none'",
].join('; ');

/** Headers every ops response carries besides its CSP. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  // Not `no-referrer`: with it browsers send `Origin: null` on form posts, which the CSRF check refuses.
  'referrer-policy': 'same-origin',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'cache-control': 'no-store',
};

const CSS = `
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:0;color:#0f172a;background:#f1f5f9}
header{display:flex;align-items:center;gap:1rem;background:#0f172a;color:#e2e8f0;padding:.6rem 1.2rem}
header h1{font-size:1.05rem;margin:0;font-weight:600}
header nav{display:flex;gap:1rem;flex:1}
header a{color:#93c5fd;text-decoration:none}
header form{margin:0}
header .who{color:#cbd5e1;font-size:.85rem}
main{padding:1rem 1.2rem;max-width:110rem;margin:0 auto}
section.panel{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:.8rem 1rem;margin-bottom:1rem;overflow-x:auto}
section.panel h2{font-size:1rem;margin:0 0 .5rem}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(30rem,1fr));gap:1rem}
.grid section.panel{margin-bottom:0}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.25rem .5rem;border-bottom:1px solid #f1f5f9;vertical-align:top}
th{font-weight:600;color:#475569;font-size:.8rem;text-transform:uppercase;letter-spacing:.03em}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.85em}
.muted{color:#64748b}
.note{color:#64748b;font-size:.8rem;margin:.4rem 0 0}
.left{font-variant-numeric:tabular-nums;font-weight:600}
.overdue{color:#b91c1c}
.soon{color:#b45309}
.badge{display:inline-block;border-radius:4px;padding:0 .35rem;margin:0 .2rem .1rem 0;font-size:.78rem;background:#e2e8f0}
.b-armed{background:#dbeafe}.b-paused{background:#ede9fe}.b-met{background:#dcfce7}.b-breached{background:#fee2e2}
.b-cancelled,.b-excused{background:#f1f5f9}.b-warning{background:#fef3c7}.b-handoff{background:#ffedd5}.b-notice{background:#cffafe}
.b-dead{background:#fecaca}.b-delivered{background:#dcfce7}
.diagram{overflow:auto;background:#fff}
.diagram svg{max-width:100%;height:auto}
.error{max-width:36rem;margin:3rem auto}
form.login{display:flex;flex-direction:column;gap:.6rem}
form.login input{font:inherit;padding:.45rem;border:1px solid #94a3b8;border-radius:6px}
button{font:inherit;padding:.35rem .8rem;border-radius:6px;border:1px solid #475569;background:#1e293b;color:#fff;cursor:pointer}
header button{background:transparent;border-color:#64748b;color:#e2e8f0;padding:.15rem .6rem}
.alert{background:#fee2e2;border:1px solid #fca5a5;border-radius:6px;padding:.5rem .7rem}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:0}
dl.facts dt{color:#64748b}
dl.facts dd{margin:0}
`;

export interface PageUser {
  readonly name: string;
  readonly role: string;
}

export interface PageOptions {
  readonly title: string;
  readonly nonce: string;
  readonly body: string;
  readonly user?: PageUser;
  /** Inline script (runs with the page's nonce). */
  readonly script?: string;
}

/** The page shell: header with navigation and logout, the body, an optional nonce'd script. */
export function page(opts: PageOptions): string {
  const n = escapeHtml(opts.nonce);
  const nav = opts.user
    ? `<nav><a href="/ops">Dashboard</a><a href="/ops/queues">Queues</a><a href="/ops/reports">Reports</a></nav>
<span class="who">${escapeHtml(opts.user.name)} (${escapeHtml(opts.user.role)})</span>
<form method="post" action="/ops/logout"><button type="submit">Log out</button></form>`
    : '<nav></nav>';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex"><title>${escapeHtml(opts.title)} · Intervene ops</title>
<style nonce="${n}">${CSS}</style></head>
<body><header><h1>Intervene ops</h1>${nav}</header>
<main>${opts.body}</main>${opts.script ? `<script nonce="${n}">${opts.script}</script>` : ''}</body></html>`;
}

/** A page that says what went wrong and, where it helps, what to do. */
export function errorPage(opts: {
  nonce: string;
  status: number;
  title: string;
  message: string;
  user?: PageUser;
  action?: string;
}): string {
  return page({
    title: opts.title,
    nonce: opts.nonce,
    ...(opts.user ? { user: opts.user } : {}),
    body: `<section class="panel error" data-status="${opts.status}"><h2>${opts.status} · ${escapeHtml(opts.title)}</h2>
<p>${escapeHtml(opts.message)}</p>${opts.action ?? ''}</section>`,
  });
}
