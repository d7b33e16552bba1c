import {
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
} from 'node:crypto';
import type { Redis } from 'ioredis';
import { type DataKeyRing, KEY_BYTES, open, SealError, seal } from '../privacy/cipher.ts';

// 4.2: BullMQ stores job data in clear, so an intake body (a case's opening or an event, personal data
// included) is sealed by its producer before it enters the queue. The service publishes an X25519 public
// key in Redis; a producer seals each body to it (an ephemeral X25519 key, HKDF-SHA256, AES-256-GCM) and
// only the intake worker, which holds the private key, opens it. The private key is derived from a data
// key (INTERVENE_DATA_KEYS), so it rotates with the data keys and needs no secret of its own.

export const INTAKE_SEAL_ALG = 'X25519-HKDF-SHA256-A256GCM';
const VERSION = 'x1';
const KEY_INFO = 'intervene intake x25519 v1';
const SEAL_INFO = 'intervene intake seal v1';
// DER wrappers for a raw X25519 key (RFC 8410): Node imports and exports them, not raw bytes.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

/** What the service publishes at `<queue prefix>:intake-key` and producers seal to. */
export interface IntakePublicKey {
  readonly alg: typeof INTAKE_SEAL_ALG;
  /** The data key it is derived from; sealed bodies name it, so rotation never strands a waiting job. */
  readonly kid: string;
  /** The raw 32-byte X25519 public key, base64url. */
  readonly publicKey: string;
}

/** A sealed intake body: the token, and the SHA-256 of the clear body the producer compares for idempotency. */
export interface SealedIntakeBody {
  readonly sealed: string;
  readonly digest: string;
}

/** What a sealed body is bound to: moved to another job, kind, case or actor, it does not open. */
export interface IntakeBinding {
  readonly jobId: string;
  readonly kind: 'open' | 'event';
  readonly caseId?: string | undefined;
  readonly ifMatch?: number | undefined;
  readonly actor: { readonly name: string; readonly role: string; readonly department?: string | undefined };
}

export const intakeKeyName = (queuePrefix: string) => `${queuePrefix}:intake-key`;

/** The SHA-256 of a body as JSON: what a decided job keeps, and what idempotency compares. */
export function bodyDigest(body: unknown): string {
  return createHash('sha256')
    .update(JSON.stringify(body) ?? 'null')
    .digest('hex');
}

export function isSealedBody(body: unknown): body is SealedIntakeBody {
  if (typeof body !== 'object' || body === null) return false;
  const b = body as Record<string, unknown>;
  return typeof b.sealed === 'string' && typeof b.digest === 'string' && Object.keys(b).length === 2;
}

/** The associated data: a JSON array, so no two bindings encode alike. */
function aadOf(kid: string, binding: IntakeBinding): string {
  const { jobId, kind, caseId, ifMatch, actor } = binding;
  return JSON.stringify([
    `intervene-intake-${VERSION}`,
    kid,
    jobId,
    kind,
    caseId ?? null,
    ifMatch ?? null,
    actor.name,
    actor.role,
    actor.department ?? null,
  ]);
}

const rawPublic = (key: KeyObject) => key.export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length);
const publicKeyOf = (raw: Buffer) =>
  createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' });

function contentKey(shared: Buffer, ephemeral: Buffer, recipient: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', shared, Buffer.concat([ephemeral, recipient]), SEAL_INFO, KEY_BYTES));
}

/** Checks a published key's shape; each problem names the field. */
export function parseIntakePublicKey(text: string | null): IntakePublicKey {
  if (text === null) throw new SealError('no intake key is published: start an Intervene process (it publishes one)');
  let doc: Partial<IntakePublicKey>;
  try {
    doc = JSON.parse(text) as Partial<IntakePublicKey>;
  } catch {
    throw new SealError('intake key: not JSON');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new SealError('intake key: must be an object { alg, kid, publicKey }');
  }
  if (doc.alg !== INTAKE_SEAL_ALG) throw new SealError(`intake key.alg: must be ${INTAKE_SEAL_ALG}`);
  if (typeof doc.kid !== 'string' || !/^[A-Za-z0-9_-]{1,32}$/.test(doc.kid)) {
    throw new SealError('intake key.kid: letters, digits, "_" or "-", 1 to 32 characters');
  }
  if (typeof doc.publicKey !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(doc.publicKey)) {
    throw new SealError('intake key.publicKey: the base64url of a 32-byte X25519 public key');
  }
  return { alg: INTAKE_SEAL_ALG, kid: doc.kid, publicKey: doc.publicKey };
}

/** Producer side: seals a body to the service's published key. Randomised: two seals of one body differ. */
export function sealIntakeBody(key: IntakePublicKey, binding: IntakeBinding, body: unknown): SealedIntakeBody {
  return { sealed: sealIntakeText(key, binding, JSON.stringify(body) ?? 'null'), digest: bodyDigest(body) };
}

/** The `sealed` token of a text (sealIntakeBody's step; the text is the body's JSON). */
export function sealIntakeText(key: IntakePublicKey, binding: IntakeBinding, text: string): string {
  const recipient = Buffer.from(key.publicKey, 'base64url');
  const ephemeral = generateKeyPairSync('x25519');
  const epk = rawPublic(ephemeral.publicKey);
  const shared = diffieHellman({ privateKey: ephemeral.privateKey, publicKey: publicKeyOf(recipient) });
  const token = seal(contentKey(shared, epk, recipient), text, aadOf(key.kid, binding));
  return `${VERSION}.${key.kid}.${epk.toString('base64url')}.${token}`;
}

/** The data key a sealed body names (to tell a missing key from a bad seal). */
export function sealedKeyId(body: SealedIntakeBody): string {
  return body.sealed.split('.')[1] ?? '';
}

/** Service side: the intake key pairs derived from the data keys, published, and opening sealed bodies. */
export class IntakeKeys {
  readonly #ring: DataKeyRing;
  readonly #pairs = new Map<string, { privateKey: KeyObject; publicKey: Buffer }>();

  constructor(ring: DataKeyRing) {
    this.#ring = ring;
  }

  #pair(kid: string) {
    let pair = this.#pairs.get(kid);
    if (!pair) {
      const seed = this.#ring.derive(kid, KEY_INFO);
      const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
      pair = { privateKey, publicKey: rawPublic(createPublicKey(privateKey)) };
      this.#pairs.set(kid, pair);
    }
    return pair;
  }

  /** The current key (from the current data key). */
  publicKey(): IntakePublicKey {
    const kid = this.#ring.currentId;
    return { alg: INTAKE_SEAL_ALG, kid, publicKey: this.#pair(kid).publicKey.toString('base64url') };
  }

  /**
   * Publishes the current key where producers read it. The processes that run the intake worker do, at
   * start and every 30 s (so a flushed or restarted Redis gets it back), and `intervene data intake-key`.
   */
  async publish(redis: Redis, queuePrefix: string): Promise<void> {
    await redis.set(intakeKeyName(queuePrefix), JSON.stringify(this.publicKey()));
  }

  has(kid: string): boolean {
    return this.#ring.has(kid);
  }

  /**
   * Opens a sealed body bound to `binding`. Throws SealError when it does not authenticate (tampered,
   * moved to another job, or not for this service) or its digest does not match what it holds.
   */
  open(binding: IntakeBinding, body: SealedIntakeBody): unknown {
    const [version, kid, epkText, token, ...rest] = body.sealed.split('.');
    if (version !== VERSION || !kid || !epkText || !token || rest.length > 0) {
      throw new SealError(`sealed: not an ${VERSION} intake seal (${VERSION}.<kid>.<ephemeral key>.<ciphertext>)`);
    }
    if (!/^[A-Za-z0-9_-]{43}$/.test(epkText)) throw new SealError('sealed: the ephemeral key is not 32 bytes');
    const epk = Buffer.from(epkText, 'base64url');
    const pair = this.#pair(kid);
    let shared: Buffer;
    try {
      shared = diffieHellman({ privateKey: pair.privateKey, publicKey: publicKeyOf(epk) });
    } catch {
      throw new SealError('sealed: the ephemeral key is not a usable X25519 key');
    }
    const plain = open(contentKey(shared, epk, pair.publicKey), token, aadOf(kid, binding));
    // The messages below are fixed: a parse error would quote the clear text into the job's failed reason.
    let value: unknown;
    try {
      value = JSON.parse(STRICT_UTF8.decode(plain));
    } catch {
      throw new SealError('sealed: the opened body is not UTF-8 JSON');
    }
    if (bodyDigest(value) !== body.digest) throw new SealError('digest: does not match the sealed body');
    return value;
  }
}
