// Micro-batching for `drhard serve`: queries of concurrent requests are queued and answered together (one encode +
// one search per model and k), bounded in batch size and in how long the first query waits; each request gets back
// exactly its own answers.

export interface BatcherOptions {
  /** Most queries answered in one batch (1: no batching). */
  maxBatch: number;
  /** Most milliseconds the oldest queued query waits for company before its batch starts. */
  maxWaitMs: number;
  /** Most queries queued; beyond it `submit` rejects with QueueFullError (the server answers 503). */
  maxQueue: number;
  /** Called with the number of queries of each batch run (for metrics). */
  onBatch?: (size: number) => void;
}

export class QueueFullError extends Error {
  constructor(limit: number) {
    super(`the server is busy: ${limit} queries are waiting; retry later`);
    this.name = 'QueueFullError';
  }
}

interface Pending<Q, A> {
  items: readonly Q[];
  resolve: (a: A[]) => void;
  reject: (e: unknown) => void;
}

/**
 * Runs `answer` over batches of queued items, one batch at a time (the work is CPU-bound and shares the model).
 * A request's items stay together in one batch unless they alone exceed maxBatch.
 */
export class MicroBatcher<Q, A> {
  readonly opts: BatcherOptions;
  readonly #answer: (items: Q[]) => Promise<A[]>;
  #queue: Array<Pending<Q, A>> = [];
  #queued = 0;
  #running = false;
  #timer: NodeJS.Timeout | null = null;
  #idle: Array<() => void> = [];

  constructor(answer: (items: Q[]) => Promise<A[]>, opts: BatcherOptions) {
    if (!(Number.isInteger(opts.maxBatch) && opts.maxBatch >= 1)) throw new RangeError(`maxBatch must be a positive integer, got ${opts.maxBatch}`);
    if (!(opts.maxWaitMs >= 0)) throw new RangeError(`maxWaitMs must be >= 0, got ${opts.maxWaitMs}`);
    this.#answer = answer;
    this.opts = opts;
  }

  /** Queries waiting (not yet in a running batch). */
  get queued(): number {
    return this.#queued;
  }

  /** True while nothing is queued or running. */
  get idle(): boolean {
    return !this.#running && this.#queue.length === 0;
  }

  /** Resolves once nothing is queued or running (for a drain on shutdown). */
  drained(): Promise<void> {
    return this.idle ? Promise.resolve() : new Promise((r) => this.#idle.push(r));
  }

  /** Queues a request's items; resolves with their answers in order. */
  submit(items: readonly Q[]): Promise<A[]> {
    if (items.length === 0) return Promise.resolve([]);
    if (this.#queued + items.length > this.opts.maxQueue) return Promise.reject(new QueueFullError(this.opts.maxQueue));
    return new Promise<A[]>((resolve, reject) => {
      this.#queue.push({ items, resolve, reject });
      this.#queued += items.length;
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#running) return;
    if (this.#queued >= this.opts.maxBatch || this.opts.maxWaitMs === 0 || this.opts.maxBatch === 1) {
      if (this.#timer !== null) clearTimeout(this.#timer);
      this.#timer = null;
      // setImmediate: requests whose bytes already arrived are parsed and queued first.
      setImmediate(() => void this.#run());
      this.#running = true;
    } else if (this.#timer === null) {
      this.#timer = setTimeout(() => {
        this.#timer = null;
        if (!this.#running) {
          this.#running = true;
          void this.#run();
        }
      }, this.opts.maxWaitMs);
    }
  }

  async #run(): Promise<void> {
    // Take whole requests while they fit (at least one).
    const batch: Array<Pending<Q, A>> = [];
    let n = 0;
    while (this.#queue.length > 0) {
      const p = this.#queue[0] as Pending<Q, A>;
      if (batch.length > 0 && n + p.items.length > this.opts.maxBatch) break;
      this.#queue.shift();
      batch.push(p);
      n += p.items.length;
    }
    this.#queued -= n;
    if (n > 0) {
      this.opts.onBatch?.(n);
      try {
        const answers = await this.#answer(batch.flatMap((p) => p.items));
        if (answers.length !== n) throw new Error(`batch answered ${answers.length} of ${n} queries`);
        let o = 0;
        for (const p of batch) {
          p.resolve(answers.slice(o, o + p.items.length));
          o += p.items.length;
        }
      } catch (e) {
        for (const p of batch) p.reject(e);
      }
    }
    if (this.#queue.length > 0) {
      // What queued meanwhile has waited a whole batch already: run it next, without a further wait.
      if (this.#timer !== null) clearTimeout(this.#timer);
      this.#timer = null;
      setImmediate(() => void this.#run());
    } else {
      this.#running = false;
      if (this.#timer !== null) clearTimeout(this.#timer);
      this.#timer = null;
      for (const r of this.#idle.splice(0)) r();
    }
  }
}
