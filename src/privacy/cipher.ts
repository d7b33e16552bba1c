import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

// AES-256-GCM (Node's crypto): a fresh 96-bit IV per message, a 128-bit tag, and associated data that
// binds each ciphertext to where it belongs (a case id and a purpose), so a blob moved elsewhere fails.

const IV_BYTES = 12;
const TAG_BYTES = 16;
export const KEY_BYTES = 32;

/** A ciphertext that cannot be opened: wrong key, tampered, or moved to another record. */
export class SealError extends Error {
  override readonly name = 'SealError';
}

// IVs come from a pool of random bytes refilled 4 KiB at a time: one call to the system's generator per
// 341 seals instead of one per seal (it was 8 % of the engine's CPU). Each IV is still 96 random bits,
// never reused: a refill allocates a new pool, and the cipher copies the IV it is given.
const POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let poolOffset = 0;

function freshIv(): Buffer {
  if (poolOffset + IV_BYTES > pool.length) {
    pool = randomBytes(POOL_BYTES);
    poolOffset = 0;
  }
  const iv = pool.subarray(poolOffset, poolOffset + IV_BYTES);
  poolOffset += IV_BYTES;
  return iv;
}

/** Encrypts `plain` under a 32-byte key: base64url of IV, ciphertext and tag. */
export function seal(key: Buffer, plain: Buffer | string, aad: string): string {
  const iv = freshIv();
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const body = Buffer.concat([
    cipher.update(typeof plain === 'string' ? Buffer.from(plain, 'utf8') : plain),
    cipher.final(),
  ]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url');
}

export function open(key: Buffer, token: string, aad: string): Buffer {
  const raw = Buffer.from(token, 'base64url');
  if (raw.length < IV_BYTES + TAG_BYTES) throw new SealError('ciphertext too short');
  const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_BYTES));
  decipher.setAAD(Buffer.from(aad, 'utf8'));
  decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(raw.subarray(IV_BYTES, raw.length - TAG_BYTES)), decipher.final()]);
  } catch {
    throw new SealError('ciphertext does not authenticate (wrong key, tampered, or not for this record)');
  }
}

export const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;

/**
 * The configured data keys (`INTERVENE_DATA_KEYS`), by id. New writes use the current one
 * (`INTERVENE_DATA_KEY_ID`); every listed key still opens what it sealed, so rotation never strands a record.
 * The ring wraps the per-case data keys and the index key: `<key id>.<sealed>`.
 */
export class DataKeyRing {
  readonly #keys: ReadonlyMap<string, Buffer>;
  readonly currentId: string;

  constructor(keys: ReadonlyMap<string, Buffer>, currentId: string) {
    if (!keys.has(currentId)) throw new Error(`data key ${currentId} is not among the configured keys`);
    for (const [id, key] of keys) {
      if (!KEY_ID.test(id)) throw new Error(`data key id ${id}: letters, digits, "_" or "-", 1 to 32 characters`);
      if (key.length !== KEY_BYTES) throw new Error(`data key ${id}: must be ${KEY_BYTES} bytes`);
    }
    this.#keys = keys;
    this.currentId = currentId;
  }

  get ids(): string[] {
    return [...this.#keys.keys()];
  }

  has(id: string): boolean {
    return this.#keys.has(id);
  }

  wrap(plain: Buffer, aad: string): string {
    return `${this.currentId}.${seal(this.#keys.get(this.currentId) as Buffer, plain, aad)}`;
  }

  /**
   * A 32-byte key for another purpose, derived from data key `id` (HKDF-SHA256, `info` naming the
   * purpose): it exists exactly as long as that data key is configured, and rotates with it.
   */
  derive(id: string, info: string): Buffer {
    const key = this.#keys.get(id);
    if (!key) throw new SealError(`data key ${id} is not among the configured keys (INTERVENE_DATA_KEYS)`);
    return Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), info, KEY_BYTES));
  }

  unwrap(token: string, aad: string): Buffer {
    const id = keyIdOf(token);
    const key = this.#keys.get(id);
    if (!key) throw new SealError(`sealed with data key ${id}, which INTERVENE_DATA_KEYS does not hold`);
    return open(key, token.slice(id.length + 1), aad);
  }
}

export function keyIdOf(token: string): string {
  const dot = token.indexOf('.');
  return dot < 0 ? '' : token.slice(0, dot);
}

export function newDataKey(): Buffer {
  return randomBytes(KEY_BYTES);
}
