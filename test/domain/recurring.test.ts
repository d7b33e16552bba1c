import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Recurring } from '../../src/domain/recurring.ts';

// The workers' periodic loops (timer promoter, outbox sweep, report folder, retention job), on fake time.

/** A task whose runs take `ms` each, recording when each started (from t0) and the most at once. */
function timedTask(ms: number) {
  const t0 = Date.now();
  const starts: number[] = [];
  let inFlight = 0;
  let most = 0;
  const run = async () => {
    starts.push(Date.now() - t0);
    most = Math.max(most, ++inFlight);
    await new Promise((r) => setTimeout(r, ms));
    inFlight--;
  };
  return { run, starts, most: () => most };
}

describe('Recurring', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('runs first after the first delay, then the interval after each run ends, never two at once', async () => {
    const task = timedTask(30);
    const loop = new Recurring(task.run, vi.fn());
    loop.start(100, 10);
    await vi.advanceTimersByTimeAsync(400);
    const stopped = loop.stop(); // the run that started at 400 ends 30 ms later
    await vi.advanceTimersByTimeAsync(30);
    await stopped;
    // 10, then 30 ms of work + 100 ms of pause per run: 10, 140, 270, 400.
    expect(task.starts).toEqual([10, 140, 270, 400]);
    expect(task.most()).toBe(1);
  });

  it('reports a failed run and goes on; a failing report does not end the loop', async () => {
    let runs = 0;
    const errors: unknown[] = [];
    const loop = new Recurring(
      async () => {
        runs++;
        if (runs <= 2) throw new Error(`run ${runs} failed`);
      },
      (error) => {
        errors.push(error);
        throw new Error('the logger is down');
      },
    );
    loop.start(50);
    await vi.advanceTimersByTimeAsync(160);
    await loop.stop();
    expect(runs).toBe(4);
    expect(errors.map((e) => (e as Error).message)).toEqual(['run 1 failed', 'run 2 failed']);
  });

  it('stop waits for the run in progress, and no run starts after it', async () => {
    let runs = 0;
    let finished = false;
    const loop = new Recurring(async () => {
      runs++;
      await new Promise((r) => setTimeout(r, 500));
      finished = true;
    }, vi.fn());
    loop.start(10);
    await vi.advanceTimersByTimeAsync(0);
    expect(runs).toBe(1);
    const stopped = loop.stop();
    let resolved = false;
    void stopped.then(() => {
      resolved = true;
    });
    await vi.advanceTimersByTimeAsync(499);
    expect(resolved).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await stopped;
    expect(finished).toBe(true);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(runs).toBe(1);
    expect(loop.started).toBe(false);
  });

  it('a second start is ignored; a non-positive interval is refused', async () => {
    let runs = 0;
    const loop = new Recurring(async () => {
      runs++;
    }, vi.fn());
    loop.start(100);
    loop.start(1);
    await vi.advanceTimersByTimeAsync(250);
    await loop.stop();
    expect(runs).toBe(3); // 0, 100, 200: the first start's interval
    expect(() => new Recurring(async () => {}, vi.fn()).start(0)).toThrow(/interval 0 ms is not positive/);
  });

  it('stopped without waiting and started again during a run: one loop, runs still one at a time', async () => {
    const task = timedTask(30);
    const loop = new Recurring(task.run, vi.fn());
    loop.start(100);
    await vi.advanceTimersByTimeAsync(0); // the first run is in progress
    void loop.stop();
    loop.start(100); // its first run waits for the one in progress
    await vi.advanceTimersByTimeAsync(300);
    const stopped = loop.stop();
    await vi.advanceTimersByTimeAsync(30);
    await stopped;
    await vi.advanceTimersByTimeAsync(1_000);
    expect(task.starts).toEqual([0, 30, 160, 290]);
    expect(task.most()).toBe(1);
  });
});
