import { readFileSync } from 'node:fs';
import type { CaseStore } from '../store/case-store.ts';
import { decodeRecord, encodeRecord } from '../store/record.ts';
import { CaseCodec } from './codec.ts';

// Key rotation (4.2): every case's data key is re-wrapped under the current configured key, online and
// in the background: one compare-and-set per case, so a commit racing the rotation is never undone (the
// rotation reads again). What is sealed under a case's data key — its personal fields, audit entries,
// payloads, HTTP replays — stays valid untouched. A case stored before sealing existed is sealed now.

const REPLACE_LUA = readFileSync(new URL('./scripts/replace-if-equal.lua', import.meta.url), 'utf8');

export interface RotationProgress {
  /** Cases looked at so far. */
  readonly scanned: number;
  /** Re-wrapped under the current key. */
  readonly rewrapped: number;
  /** Stored before sealing existed, sealed now. */
  readonly sealed: number;
  /** Already under the current key. */
  readonly current: number;
  /** Gone since they were listed (deleted). */
  readonly missing: number;
}

export interface RotationOptions {
  /** Only count what would change. */
  readonly dryRun?: boolean;
  /** Cases per batch; a pause between batches keeps the load low (`paceMs`). */
  readonly batch?: number;
  readonly paceMs?: number;
  readonly onProgress?: (progress: RotationProgress) => void;
}

type ReplaceCommand = (key: string, expected: Buffer, next: Buffer) => Promise<number>;

/** The case ids of every partition, in pages (from the `created` index: every case is in it). */
async function* caseIds(store: CaseStore, batch: number): AsyncGenerator<string[]> {
  for (let p = 0; p < store.keys.partitions; p++) {
    const key = `${store.keys.tag(p)}:created`;
    for (let start = 0; ; start += batch) {
      const ids = await store.redis.zrange(key, String(start), String(start + batch - 1));
      if (ids.length > 0) yield ids;
      if (ids.length < batch) break;
    }
  }
}

export async function rotate(store: CaseStore, opts: RotationOptions = {}): Promise<RotationProgress> {
  const { codec, redis } = store;
  if (!('intervene_replace_if_equal' in redis)) {
    redis.defineCommand('intervene_replace_if_equal', { lua: REPLACE_LUA, numberOfKeys: 1 });
  }
  const replace = (redis as unknown as Record<string, ReplaceCommand>).intervene_replace_if_equal as ReplaceCommand;
  const batch = opts.batch ?? 200;
  const progress = { scanned: 0, rewrapped: 0, sealed: 0, current: 0, missing: 0 };
  if (!opts.dryRun) await codec.rewrapIndexKey();
  for await (const ids of caseIds(store, batch)) {
    for (const caseId of ids) {
      progress.scanned++;
      const key = store.keys.forCase(caseId).case;
      for (let attempt = 1; ; attempt++) {
        const raw = await redis.getBuffer(key);
        if (raw === null) {
          progress.missing++;
          break;
        }
        const { version, json: snapshot } = decodeRecord(raw);
        const keyId = CaseCodec.wrappedKeyId(snapshot);
        if (keyId === codec.ring.currentId) {
          progress.current++;
          break;
        }
        if (opts.dryRun) {
          progress[keyId === '' ? 'sealed' : 'rewrapped']++;
          break;
        }
        const next = encodeRecord(version, await codec.rewrapSnapshot(caseId, version, snapshot));
        if ((await replace.call(redis, key, raw, next)) === 1) {
          progress[keyId === '' ? 'sealed' : 'rewrapped']++;
          break;
        }
        if (attempt >= 50) throw new Error(`case ${caseId} kept changing; rotation gave up on it after 50 attempts`);
      }
    }
    opts.onProgress?.({ ...progress });
    if (opts.paceMs) await new Promise((r) => setTimeout(r, opts.paceMs));
  }
  return progress;
}

/** How many cases each key id wraps (`''`: stored before sealing): when none is left on a key, retire it. */
export async function keyUsage(store: CaseStore, batch = 500): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for await (const ids of caseIds(store, batch)) {
    const records = await store.redis.mgetBuffer(...ids.map((id) => store.keys.forCase(id).case));
    for (const raw of records) {
      if (raw === null) continue;
      const id = CaseCodec.wrappedKeyId(decodeRecord(raw).json) || '(not sealed)';
      counts[id] = (counts[id] ?? 0) + 1;
    }
  }
  const indexKey = await store.redis.get(store.codec.indexKeyKey);
  if (indexKey) counts[`index key: ${indexKey.slice(0, indexKey.indexOf('.'))}`] = 1;
  return counts;
}
