import { createHmac, randomBytes } from 'node:crypto';

// Standard Webhooks: HMAC-SHA256 over `${id}.${timestamp}.${body}`, keyed with the secret's bytes.

export function generateSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`;
}

export function secretBytes(secret: string): Buffer {
  if (!secret.startsWith('whsec_')) throw new Error('a webhook secret is written whsec_<base64>');
  return Buffer.from(secret.slice('whsec_'.length), 'base64');
}

export function signatureHeaders(secret: string, id: string, timestampSec: number, body: string) {
  const signature = createHmac('sha256', secretBytes(secret)).update(`${id}.${timestampSec}.${body}`).digest('base64');
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestampSec),
    'webhook-signature': `v1,${signature}`,
  };
}
