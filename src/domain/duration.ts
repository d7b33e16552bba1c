// ISO-8601 durations as the agreement's `[time]` blanks are written in a policy (`PT15M`, `P1D`).
// Only fixed-length units are accepted: a month or a year has no fixed length in calendar time.
const DURATION = /^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d{1,3})?)S)?)?$/;

/** Milliseconds of an ISO-8601 duration, or `undefined` when the text is not one we accept. */
export function parseDuration(text: string): number | undefined {
  const match = DURATION.exec(text);
  if (!match || text === 'P' || text.endsWith('T')) return undefined;
  const [, w, d, h, m, s] = match;
  const ms =
    (Number(w ?? 0) * 7 * 86_400 +
      Number(d ?? 0) * 86_400 +
      Number(h ?? 0) * 3_600 +
      Number(m ?? 0) * 60 +
      Number(s ?? 0)) *
    1000;
  return Math.round(ms);
}
