import { createHmac, timingSafeEqual } from 'node:crypto';
import { secretBytes } from './sign.ts';

// The documented receiver-side check: signature over `${id}.${timestamp}.${body}` and a replay window.
export class WebhookVerificationError extends Error {
  override readonly name = 'WebhookVerificationError';
}

export function verifyWebhook(
  secret: string,
  headers: Record<string, string | string[] | undefined>,
  body: string,
  opts: { toleranceSec?: number; nowSec?: number } = {},
): unknown {
  const header = (name: string) => {
    const v = headers[name] ?? headers[name.toLowerCase()];
    return Array.isArray(v) ? v[0] : v;
  };
  const id = header('webhook-id');
  const timestamp = header('webhook-timestamp');
  const signatures = header('webhook-signature');
  if (!id || !timestamp || !signatures)
    throw new WebhookVerificationError('missing webhook-id, webhook-timestamp or webhook-signature');
  const ts = Number(timestamp);
  const now = opts.nowSec ?? Math.floor(Date.now() / 1000);
  const tolerance = opts.toleranceSec ?? 300;
  if (!Number.isInteger(ts) || Math.abs(now - ts) > tolerance) {
    throw new WebhookVerificationError(`timestamp outside the ${tolerance} s replay window`);
  }
  const expected = createHmac('sha256', secretBytes(secret)).update(`${id}.${timestamp}.${body}`).digest();
  const ok = signatures.split(' ').some((entry) => {
    const [version, value] = entry.split(',');
    if (version !== 'v1' || !value) return false;
    const given = Buffer.from(value, 'base64');
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
  if (!ok) throw new WebhookVerificationError('no valid v1 signature');
  return JSON.parse(body);
}
