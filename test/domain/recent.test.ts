import { describe, expect, it } from 'vitest';
import { RecentMap } from '../../src/domain/recent.ts';

describe('RecentMap', () => {
  it('keeps the most recently written entries up to its limit; a write refreshes an entry', () => {
    const m = new RecentMap<string, number>(2);
    m.set('a', 1);
    m.set('b', 2);
    m.set('a', 3); // a is now the newest
    m.set('c', 4); // b, the oldest, goes
    expect([m.get('a'), m.get('b'), m.get('c')]).toEqual([3, undefined, 4]);
    m.delete('a');
    expect(m.get('a')).toBeUndefined();
  });
});
