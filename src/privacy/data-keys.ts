import { existsSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { parse, stringify } from 'yaml';
import { DataKeyRing, KEY_BYTES, KEY_ID, newDataKey } from './cipher.ts';

// Data keys come from INTERVENE_DATA_KEYS (`k1:<base64 32 bytes>,k2:...`) and INTERVENE_DATA_KEY_ID (the
// key for new writes; default the last listed). A development start without them generates one into
// `<var>/data-keys.yaml`, once, and says so — as the API keys and webhook secrets do.

export class DataKeyError extends Error {
  override readonly name = 'DataKeyError';
}

export interface DataKeySettings {
  readonly INTERVENE_DATA_KEYS?: string | undefined;
  readonly INTERVENE_DATA_KEY_ID?: string | undefined;
  readonly INTERVENE_VAR_DIR: string;
}

const byPrefix = new Map<string, DataKeyRing>();

/**
 * The key ring a runtime resolved for its key prefix, for stores built without one in the same
 * process (tests race several stores on one prefix). Nothing is ever sealed without a configured key.
 */
export function registerDataKeys(prefix: string, ring: DataKeyRing): void {
  byPrefix.set(prefix, ring);
}

export function dataKeysFor(prefix: string): DataKeyRing {
  const ring = byPrefix.get(prefix);
  if (!ring) throw new DataKeyError(`no data keys are configured for key prefix ${prefix} (INTERVENE_DATA_KEYS)`);
  return ring;
}

/** Parses `id:<base64>,id:<base64>`; each error names the variable and the rule. */
export function parseDataKeys(text: string, currentId: string | undefined): DataKeyRing {
  const keys = new Map<string, Buffer>();
  const errors: string[] = [];
  for (const [i, part] of text.split(',').entries()) {
    const colon = part.indexOf(':');
    const id = part.slice(0, colon).trim();
    const value = part.slice(colon + 1).trim();
    const where = `INTERVENE_DATA_KEYS entry ${i + 1}`;
    if (colon < 0 || !KEY_ID.test(id)) {
      errors.push(`${where}: write <id>:<base64 of 32 bytes>, the id letters, digits, "_" or "-"`);
      continue;
    }
    const bytes = Buffer.from(value, 'base64');
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(value) || bytes.length !== KEY_BYTES) {
      errors.push(`${where} (${id}): the key must be the base64 of exactly ${KEY_BYTES} random bytes`);
      continue;
    }
    if (keys.has(id)) errors.push(`${where}: key id ${id} is listed twice`);
    keys.set(id, bytes);
  }
  const current = currentId ?? [...keys.keys()].at(-1);
  if (errors.length === 0 && (current === undefined || !keys.has(current))) {
    errors.push(`INTERVENE_DATA_KEY_ID: ${current} is not one of the ids INTERVENE_DATA_KEYS lists`);
  }
  if (errors.length > 0) throw new DataKeyError(`invalid data keys:\n  ${errors.join('\n  ')}`);
  return new DataKeyRing(keys, current as string);
}

interface DevFile {
  current: string;
  keys: Record<string, string>;
}

export const devKeysFile = (varDir: string) => join(varDir, 'data-keys.yaml');

function readDevFile(file: string): DevFile | undefined {
  if (!existsSync(file)) return undefined;
  const doc = parse(readFileSync(file, 'utf8')) as Partial<DevFile> | null;
  if (!doc?.keys || typeof doc.current !== 'string') throw new DataKeyError(`${file}: expected { current, keys }`);
  return { current: doc.current, keys: doc.keys };
}

function writeDevFile(file: string, doc: DevFile, varDir: string): void {
  mkdirSync(varDir, { recursive: true });
  writeFileSync(file, stringify(doc), { mode: 0o600 });
}

/** The key ring of this process: configured, or the development file (generated on first start). */
export function resolveDataKeys(settings: DataKeySettings, log?: Logger): DataKeyRing {
  if (settings.INTERVENE_DATA_KEYS) {
    return parseDataKeys(settings.INTERVENE_DATA_KEYS, settings.INTERVENE_DATA_KEY_ID);
  }
  const file = devKeysFile(settings.INTERVENE_VAR_DIR);
  let doc = readDevFile(file);
  if (!doc) {
    doc = { current: 'dev1', keys: { dev1: newDataKey().toString('base64') } };
    // Written whole, then linked into place: of two processes starting together on one var directory,
    // one key wins (link fails with EEXIST for the other) and both use it.
    mkdirSync(settings.INTERVENE_VAR_DIR, { recursive: true });
    const draft = `${file}.${process.pid}.${Date.now()}`;
    writeFileSync(draft, stringify(doc), { mode: 0o600 });
    try {
      linkSync(draft, file);
      log?.warn({ file }, 'data key generated for development; set INTERVENE_DATA_KEYS in production');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      doc = readDevFile(file) as DevFile;
    } finally {
      unlinkSync(draft);
    }
  }
  const text = Object.entries(doc.keys)
    .map(([id, key]) => `${id}:${key}`)
    .join(',');
  return parseDataKeys(text, settings.INTERVENE_DATA_KEY_ID ?? doc.current);
}

/**
 * A new key for rotation: `<id>:<base64>`. In development (no INTERVENE_DATA_KEYS) it is added to the
 * development file and made current; otherwise it is only returned, to be added to the configuration.
 */
export function generateDataKey(settings: DataKeySettings, id?: string): { id: string; line: string; file?: string } {
  const configured = settings.INTERVENE_DATA_KEYS;
  const existing = configured
    ? parseDataKeys(configured, settings.INTERVENE_DATA_KEY_ID).ids
    : Object.keys(readDevFile(devKeysFile(settings.INTERVENE_VAR_DIR))?.keys ?? {});
  let keyId = id;
  if (keyId === undefined) {
    let n = existing.length + 1;
    while (existing.includes(`k${n}`)) n++;
    keyId = `k${n}`;
  }
  if (!KEY_ID.test(keyId)) throw new DataKeyError(`--id ${keyId}: letters, digits, "_" or "-", 1 to 32 characters`);
  if (existing.includes(keyId)) throw new DataKeyError(`--id ${keyId}: a data key with this id exists`);
  const line = `${keyId}:${newDataKey().toString('base64')}`;
  if (configured) return { id: keyId, line };
  const file = devKeysFile(settings.INTERVENE_VAR_DIR);
  const doc = readDevFile(file) ?? { current: keyId, keys: {} };
  doc.keys[keyId] = line.slice(keyId.length + 1);
  doc.current = keyId;
  writeDevFile(file, doc, settings.INTERVENE_VAR_DIR);
  return { id: keyId, line, file };
}
