import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  bodyDigest,
  INTAKE_SEAL_ALG,
  type IntakeBinding,
  IntakeKeys,
  isSealedBody,
  parseIntakePublicKey,
  sealIntakeBody,
  sealIntakeText,
} from '../../src/intake/sealing.ts';
import { DataKeyRing, SealError } from '../../src/privacy/cipher.ts';

// The intake seal (4.2): producers seal a body to the service's X25519 key; only the service opens it,
// only for the job, kind, case and actor it was sealed for, and only while its data key is configured.

const ring = (ids: string[], current = ids.at(-1) as string, keys = new Map<string, Buffer>()) => {
  for (const id of ids) if (!keys.has(id)) keys.set(id, randomBytes(32));
  return new DataKeyRing(keys, current);
};
const binding: IntakeBinding = {
  jobId: 'k-Y3JtLTQ3MTE',
  kind: 'open',
  actor: { name: 'crm', role: 'service' },
};
const body = {
  customer: { id: 'customer-7f3a9c', name: '张三丰金丝雀', phone: '13812345678' },
  subject: 'a-late-fee-canary',
};

describe('intake seal', () => {
  it('round-trips any JSON body, and two seals of one body differ (a fresh ephemeral key each)', () => {
    const keys = new IntakeKeys(ring(['k1']));
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const clear = JSON.parse(JSON.stringify(value ?? null)) as unknown;
        const a = sealIntakeBody(keys.publicKey(), binding, clear);
        const b = sealIntakeBody(keys.publicKey(), binding, clear);
        expect(a.sealed).not.toBe(b.sealed);
        expect(a.digest).toBe(bodyDigest(clear));
        expect(isSealedBody(a)).toBe(true);
        expect(keys.open(binding, a)).toEqual(clear);
      }),
      { numRuns: 200 },
    );
  });

  it('holds no clear text of the body', () => {
    const keys = new IntakeKeys(ring(['k1']));
    const sealed = JSON.stringify(sealIntakeBody(keys.publicKey(), binding, body));
    for (const s of ['张三丰金丝雀', '13812345678', 'a-late-fee-canary', 'customer-7f3a9c']) {
      expect(sealed).not.toContain(s);
    }
  });

  it.each([
    ['another job', { ...binding, jobId: 'k-other' }],
    ['another kind', { ...binding, kind: 'event' as const }],
    ['another case', { ...binding, caseId: 'C-2' }],
    ['another actor', { ...binding, actor: { name: 'crm', role: 'agent' } }],
    ['another department', { ...binding, actor: { ...binding.actor, department: 'legal' } }],
    ['another If-Match', { ...binding, ifMatch: 3 }],
  ])('does not open when moved to %s', (_what, other) => {
    const keys = new IntakeKeys(ring(['k1']));
    const sealed = sealIntakeBody(keys.publicKey(), binding, body);
    expect(() => keys.open(other, sealed)).toThrow(SealError);
  });

  it('does not open under another service’s keys, tampered, or with a digest that is not its body’s', () => {
    const keys = new IntakeKeys(ring(['k1']));
    const sealed = sealIntakeBody(keys.publicKey(), binding, body);
    expect(() => new IntakeKeys(ring(['k1'])).open(binding, sealed)).toThrow(SealError);
    const parts = sealed.sealed.split('.');
    const raw = Buffer.from(parts[3] as string, 'base64url');
    raw[20] = (raw[20] as number) ^ 1; // one ciphertext bit
    const flipped = [...parts.slice(0, 3), raw.toString('base64url')].join('.');
    expect(() => keys.open(binding, { ...sealed, sealed: flipped })).toThrow(/does not authenticate/);
    expect(() => keys.open(binding, { ...sealed, digest: bodyDigest({ other: 1 }) })).toThrow(/digest/);
    expect(() => keys.open(binding, { ...sealed, sealed: 'x2.k1.a.b' })).toThrow(/not an x1 intake seal/);
  });

  it('a seal whose content is not JSON, or whose ephemeral key is unusable, fails with a fixed message', () => {
    const keys = new IntakeKeys(ring(['k1']));
    const notJson = sealIntakeText(keys.publicKey(), binding, 'Zhang San 13812345678');
    const error = (() => {
      try {
        keys.open(binding, { sealed: notJson, digest: bodyDigest(null) });
      } catch (e) {
        return e as Error;
      }
    })();
    expect(error).toBeInstanceOf(SealError);
    expect(error?.message).toBe('sealed: the opened body is not UTF-8 JSON');
    const [v, kid, , token] = notJson.split('.');
    const lowOrder = [v, kid, Buffer.alloc(32).toString('base64url'), token].join('.');
    expect(() => keys.open(binding, { sealed: lowOrder, digest: bodyDigest(null) })).toThrow(/not a usable X25519 key/);
  });

  it('the key pair is derived from the data key: every process with the same keys publishes the same key', () => {
    const shared = new Map([['k1', randomBytes(32)]]);
    const a = new IntakeKeys(ring(['k1'], 'k1', new Map(shared)));
    const b = new IntakeKeys(ring(['k1'], 'k1', new Map(shared)));
    expect(a.publicKey()).toEqual(b.publicKey());
    expect(a.publicKey()).toMatchObject({ alg: INTAKE_SEAL_ALG, kid: 'k1' });
    expect(b.open(binding, sealIntakeBody(a.publicKey(), binding, body))).toEqual(body);
  });

  it('rotates with the data keys: the new current key is published, a body sealed to the old one still opens', () => {
    const keys = new Map([
      ['k1', randomBytes(32)],
      ['k2', randomBytes(32)],
    ]);
    const before = new IntakeKeys(new DataKeyRing(keys, 'k1'));
    const after = new IntakeKeys(new DataKeyRing(keys, 'k2'));
    expect(after.publicKey().kid).toBe('k2');
    expect(after.publicKey().publicKey).not.toBe(before.publicKey().publicKey);
    const old = sealIntakeBody(before.publicKey(), binding, body);
    expect(after.open(binding, old)).toEqual(body);
    expect(after.has('k1')).toBe(true);
    expect(new IntakeKeys(ring(['k3'])).has('k1')).toBe(false);
  });

  it('a published key is checked field by field', () => {
    const good = new IntakeKeys(ring(['k1'])).publicKey();
    expect(parseIntakePublicKey(JSON.stringify(good))).toEqual(good);
    expect(() => parseIntakePublicKey(null)).toThrow(/no intake key is published/);
    expect(() => parseIntakePublicKey('{')).toThrow(/not JSON/);
    expect(() => parseIntakePublicKey('null')).toThrow(/must be an object/);
    expect(() => parseIntakePublicKey(JSON.stringify({ ...good, publicKey: `${'A'.repeat(42)}!` }))).toThrow(
      /intake key.publicKey/,
    );
    expect(() => parseIntakePublicKey(JSON.stringify({ ...good, alg: 'RSA' }))).toThrow(/intake key.alg/);
    expect(() => parseIntakePublicKey(JSON.stringify({ ...good, kid: 'a b' }))).toThrow(/intake key.kid/);
    expect(() => parseIntakePublicKey(JSON.stringify({ ...good, publicKey: 'AAAA' }))).toThrow(/intake key.publicKey/);
  });
});
