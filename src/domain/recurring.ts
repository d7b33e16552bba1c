/**
 * A background task that runs again `intervalMs` after each run ends (never two runs at once), until
 * stopped. A failed run is reported to `onError` and the loop goes on: the next run retries. `stop()`
 * waits for a run in progress, so whatever the task uses (connections) can be closed after it. The
 * periodic loops of the workers: the timer promoter, the outbox sweep, the report folder, the retention job.
 */
export class Recurring {
  readonly #run: () => Promise<unknown>;
  readonly #onError: (error: unknown) => void;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> = Promise.resolve();
  /** Bumped by every start and stop: a run of an earlier start does not schedule another. */
  #generation = 0;

  constructor(run: () => Promise<unknown>, onError: (error: unknown) => void) {
    this.#run = run;
    this.#onError = onError;
  }

  get started(): boolean {
    return this.#timer !== undefined;
  }

  /** First run after `firstDelayMs` (default: at once, on the next turn of the event loop). */
  start(intervalMs: number, firstDelayMs = 0): void {
    if (!(intervalMs > 0)) throw new RangeError(`Recurring: interval ${intervalMs} ms is not positive`);
    if (this.#timer) return;
    const generation = ++this.#generation;
    const loop = () => {
      // After the previous run, even one of an earlier start still in progress: never two at once.
      this.#running = this.#running
        .then(this.#run)
        .catch((error: unknown) => {
          try {
            this.#onError(error);
          } catch {
            // A failing report must not end the loop.
          }
        })
        .finally(() => {
          if (generation === this.#generation) this.#timer = setTimeout(loop, intervalMs);
        });
    };
    this.#timer = setTimeout(loop, firstDelayMs);
  }

  /** No run starts after this; resolves when the run in progress (if any) has ended. */
  async stop(): Promise<void> {
    this.#generation++;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }
}
