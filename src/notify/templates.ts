import { wallClockIn } from '../domain/calendar.ts';

// Customer-notice texts per locale (zh-CN and en shipped); a policy may override any of them.
// Placeholders: {caseId} {department} {expectedBy} {contact} {resolution}.
export type NoticeStatus = 'escalated' | 'coordinating' | 'resolved';

export const DEFAULT_TEMPLATES: Record<string, Record<NoticeStatus, string>> = {
  'zh-CN': {
    escalated:
      '您的请求（编号 {caseId}）已收到，正在由{department}处理。预计在 {expectedBy} 前答复；如有疑问请联系{contact}。',
    coordinating: '您的请求（编号 {caseId}）已收到，我们正在与{department}协调处理，预计在 {expectedBy} 前答复。',
    resolved: '您的请求（编号 {caseId}）已处理完毕：{resolution}',
  },
  en: {
    escalated:
      'We have received your request (ref. {caseId}); it is being handled by {department}. Expect an answer by {expectedBy}; for questions contact {contact}.',
    coordinating:
      'We have received your request (ref. {caseId}) and are working on it with {department}. Expect an answer by {expectedBy}.',
    resolved: 'Your request (ref. {caseId}) has been handled: {resolution}',
  },
};

export function renderNotice(
  locale: string,
  status: NoticeStatus,
  values: Record<string, string>,
  overrides?: { readonly [K in NoticeStatus]?: string | undefined },
): string {
  const template = overrides?.[status] ?? (DEFAULT_TEMPLATES[locale] ?? DEFAULT_TEMPLATES.en)?.[status] ?? '';
  return template.replace(/\{(\w+)\}/g, (_, name: string) => values[name] ?? '');
}

/** A time in the policy's zone, as a person reads it: `2026-11-25 17:00 (Asia/Shanghai)`. */
export function localTime(ms: number, timeZone: string): string {
  const w = wallClockIn(ms, timeZone);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${String(w.year).padStart(4, '0')}-${two(w.month)}-${two(w.day)} ${two(w.hour)}:${two(w.minute)} (${timeZone})`;
}
