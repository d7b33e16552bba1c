// Bounded polling for real-time tests: every wait has a timeout and says what it waited for.

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface WaitOptions {
  /** Give up after this long (default 5 s). */
  readonly timeoutMs?: number;
  /** Probe this often (default 50 ms). */
  readonly intervalMs?: number;
  /** Named in the timeout error. */
  readonly what?: string;
}

/** Polls `probe` until it returns something other than `undefined`, `null` or `false`, and returns that. */
export async function waitFor<T>(
  probe: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  opts: WaitOptions = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 5_000;
  const intervalMs = opts.intervalMs ?? 50;
  const started = Date.now();
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== null && value !== false) return value as T;
    if (Date.now() - started > timeoutMs) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${opts.what ?? 'a condition'}`);
    }
    await sleep(intervalMs);
  }
}
