import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RecentMap } from '../../src/domain/recent.ts';

describe('RecentMap', () => {
  it('keeps the most recently written entries; a write refreshes an entry; delete removes it', () => {
    const m = new RecentMap<string, number>(4); // generations of 2
    m.set('a', 1);
    m.set('b', 2); // a, b become the old generation
    m.set('a', 3); // a is young again
    m.set('c', 4); // a, c become old: b goes
    expect([m.get('a'), m.get('b'), m.get('c')]).toEqual([3, undefined, 4]);
    m.delete('a');
    expect(m.get('a')).toBeUndefined();
    expect(m.size).toBe(1);
  });

  it('never holds more than its limit, always holds the last limit/2 keys written, and reads what was written', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 20 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 30 }), fc.integer()), { maxLength: 200 }),
        (limit, writes) => {
          const m = new RecentMap<number, number>(limit);
          const last = new Map<number, number>();
          for (const [k, v] of writes) {
            m.set(k, v);
            last.delete(k);
            last.set(k, v);
            expect(m.size).toBeLessThanOrEqual(limit);
          }
          const recent = [...last].slice(-Math.floor(limit / 2));
          for (const [k, v] of recent) expect(m.get(k)).toBe(v);
          for (const [k, v] of last) if (m.get(k) !== undefined) expect(m.get(k)).toBe(v);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('refuses a limit that cannot hold two generations', () => {
    expect(() => new RecentMap(1)).toThrow(/limit 1 is not an integer >= 2/);
  });
});
