// Prometheus text-format metrics for `drhard serve`: request counts by route and status, request latency and batch
// size histograms, queue depth and in-flight requests.

/** Latency buckets in seconds (1 ms … 10 s). */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Batch size buckets in queries. */
export const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256];

class Histogram {
  readonly counts: number[];
  sum = 0;
  count = 0;
  constructor(readonly buckets: readonly number[]) {
    this.counts = new Array<number>(buckets.length).fill(0);
  }
  observe(v: number): void {
    this.sum += v;
    this.count++;
    for (let i = 0; i < this.buckets.length; i++) if (v <= (this.buckets[i] as number)) this.counts[i] = (this.counts[i] as number) + 1;
  }
  lines(name: string, labels = ''): string[] {
    const l = (extra: string): string => `{${[labels, extra].filter((s) => s !== '').join(',')}}`;
    const out = this.buckets.map((b, i) => `${name}_bucket${l(`le="${b}"`)} ${this.counts[i]}`);
    out.push(`${name}_bucket${l('le="+Inf"')} ${this.count}`);
    out.push(`${name}_sum${labels === '' ? '' : `{${labels}}`} ${this.sum}`);
    out.push(`${name}_count${labels === '' ? '' : `{${labels}}`} ${this.count}`);
    return out;
  }
}

const esc = (s: string): string => s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

export class ServeMetrics {
  readonly #requests = new Map<string, number>();
  readonly #latency = new Map<string, Histogram>();
  readonly #batch = new Histogram(BATCH_BUCKETS);
  #queries = new Map<string, number>();
  inFlight = 0;
  queueDepth: () => number = () => 0;

  /** One finished request; `route` is the route pattern (never the raw URL, so label values stay bounded). */
  request(method: string, route: string, status: number, seconds: number): void {
    const key = `method="${esc(method)}",route="${esc(route)}",status="${status}"`;
    this.#requests.set(key, (this.#requests.get(key) ?? 0) + 1);
    const lk = `route="${esc(route)}"`;
    let h = this.#latency.get(lk);
    if (h === undefined) this.#latency.set(lk, (h = new Histogram(LATENCY_BUCKETS)));
    h.observe(seconds);
  }

  /** Queries answered, by mode. */
  queries(mode: string, n: number): void {
    const key = `mode="${esc(mode)}"`;
    this.#queries.set(key, (this.#queries.get(key) ?? 0) + n);
  }

  batch(size: number): void {
    this.#batch.observe(size);
  }

  text(): string {
    const out: string[] = [];
    out.push('# HELP drhard_http_requests_total HTTP requests by method, route and status.', '# TYPE drhard_http_requests_total counter');
    for (const [k, v] of this.#requests) out.push(`drhard_http_requests_total{${k}} ${v}`);
    out.push('# HELP drhard_http_request_duration_seconds Time from request to response, by route.', '# TYPE drhard_http_request_duration_seconds histogram');
    for (const [k, h] of this.#latency) out.push(...h.lines('drhard_http_request_duration_seconds', k));
    out.push('# HELP drhard_search_queries_total Queries answered, by mode.', '# TYPE drhard_search_queries_total counter');
    for (const [k, v] of this.#queries) out.push(`drhard_search_queries_total{${k}} ${v}`);
    out.push('# HELP drhard_batch_size Queries per micro-batch.', '# TYPE drhard_batch_size histogram');
    out.push(...this.#batch.lines('drhard_batch_size'));
    out.push('# HELP drhard_queue_depth Queries waiting for a batch.', '# TYPE drhard_queue_depth gauge', `drhard_queue_depth ${this.queueDepth()}`);
    out.push('# HELP drhard_in_flight_requests Requests being answered.', '# TYPE drhard_in_flight_requests gauge', `drhard_in_flight_requests ${this.inFlight}`);
    const m = process.memoryUsage();
    out.push('# HELP process_resident_memory_bytes Resident set size.', '# TYPE process_resident_memory_bytes gauge', `process_resident_memory_bytes ${m.rss}`);
    return `${out.join('\n')}\n`;
  }
}
