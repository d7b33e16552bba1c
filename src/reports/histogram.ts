// Fixed-bucket histograms of turnaround times. Fixed buckets add up across partitions and days, so a
// month's percentiles come from counters, never from the individual cases.

const S = 1_000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

/** Upper bounds (inclusive) of the buckets, in ms; a last, open bucket holds everything above 30 days. */
export const BUCKET_BOUNDS_MS: readonly number[] = [
  10 * S,
  30 * S,
  1 * M,
  2 * M,
  3 * M,
  5 * M,
  7 * M,
  10 * M,
  12 * M,
  15 * M,
  20 * M,
  30 * M,
  45 * M,
  1 * H,
  1.5 * H,
  2 * H,
  3 * H,
  4 * H,
  6 * H,
  8 * H,
  12 * H,
  16 * H,
  1 * D,
  1.5 * D,
  2 * D,
  3 * D,
  4 * D,
  5 * D,
  7 * D,
  10 * D,
  14 * D,
  21 * D,
  30 * D,
];

/** The bucket of a duration: the first bound it does not exceed, or the open bucket past the last. */
export function bucketOf(ms: number): number {
  let lo = 0;
  let hi = BUCKET_BOUNDS_MS.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ms <= (BUCKET_BOUNDS_MS[mid] as number)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** A bucket's upper bound; `null` for the open bucket above 30 days. */
export function boundOf(bucket: number): number | null {
  return BUCKET_BOUNDS_MS[bucket] ?? null;
}

/**
 * Nearest-rank percentile over bucket counts: the upper bound of the bucket holding the q-th value, so
 * "p90 15 min" reads "nine in ten within 15 minutes". `null` when empty or in the open bucket.
 */
export function percentile(counts: readonly number[], q: number): number | null {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i] ?? 0;
    if (seen >= rank) return boundOf(i);
  }
  return null;
}
