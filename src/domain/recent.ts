/**
 * A map that keeps about the `limit` most recently written entries, in two generations: writes go to
 * the young one, and when it holds `limit / 2` entries it becomes the old one and the previous old one
 * is dropped. So it holds between `limit / 2` and `limit` entries, and a write or a read is O(1).
 * (Evicting a JavaScript Map's oldest key one at a time is not: V8 keeps deleted slots until the table
 * is rebuilt, and `keys().next()` walks over every one of them.) The per-process caches of the store
 * and the codec.
 */
export class RecentMap<K, V> {
  #young = new Map<K, V>();
  #old = new Map<K, V>();
  readonly #generation: number;

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 2) throw new RangeError(`RecentMap: limit ${limit} is not an integer >= 2`);
    this.#generation = Math.floor(limit / 2);
  }

  get(key: K): V | undefined {
    return this.#young.has(key) ? this.#young.get(key) : this.#old.get(key);
  }

  set(key: K, value: V): void {
    this.#old.delete(key);
    this.#young.set(key, value);
    if (this.#young.size >= this.#generation) {
      this.#old = this.#young;
      this.#young = new Map();
    }
  }

  delete(key: K): void {
    this.#young.delete(key);
    this.#old.delete(key);
  }

  get size(): number {
    return this.#young.size + this.#old.size;
  }
}
