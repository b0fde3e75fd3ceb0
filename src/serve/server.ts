// The HTTP side of `drhard serve` (hono on @hono/node-server): POST /v1/search through the micro-batcher, GET /v1/info,
// /healthz, /metrics and the search page; request limits, bearer-token auth, JSON errors, and a drain on close.
// Usable in-process (tests, bench): startServer() returns the bound URL and an async close().
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { createAdaptorServer } from '@hono/node-server';
import { z } from 'zod';
import type { Logger } from '../util/log.ts';
import { MicroBatcher, QueueFullError, type BatcherOptions } from './batcher.ts';
import type { Answer, Mode, Query, SearchEngine } from './engine.ts';
import { ServeMetrics } from './metrics.ts';
import { CSP, PAGE_CSS, PAGE_HTML, PAGE_JS } from './page.ts';

export interface ServeLimits {
  /** Largest k a request may ask for. */
  maxK: number;
  /** Most queries in one request (`queries` array). */
  maxQueries: number;
  /** Longest query in characters; longer ones are refused (400). Within it, tokens beyond maxQueryLength are cut. */
  maxQueryChars: number;
  /** Largest request body in bytes (413 beyond). */
  maxBodyBytes: number;
  /** A request must arrive whole within this many ms (slow clients are cut off: 408 / closed). */
  requestTimeoutMs: number;
  /** Request headers must arrive within this many ms. */
  headersTimeoutMs: number;
  /** Idle keep-alive connections are closed after this many ms. */
  keepAliveTimeoutMs: number;
}

export const DEFAULT_LIMITS: ServeLimits = {
  maxK: 100,
  maxQueries: 64,
  maxQueryChars: 2000,
  maxBodyBytes: 256 * 1024,
  requestTimeoutMs: 10_000,
  headersTimeoutMs: 5_000,
  keepAliveTimeoutMs: 5_000,
};

export const DEFAULT_BATCH: BatcherOptions = { maxBatch: 32, maxWaitMs: 2, maxQueue: 4096 };

export interface AppOptions {
  limits?: Partial<ServeLimits>;
  batch?: Partial<BatcherOptions>;
  /** Bearer token required on /v1/search and /metrics (the page and /healthz stay open). */
  token?: string;
  logger?: Logger;
}

export class HttpError extends Error {
  constructor(
    readonly status: 400 | 401 | 404 | 405 | 413 | 415 | 503,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function errorBody(code: string, message: string): { error: { code: string; message: string } } {
  return { error: { code, message } };
}

/** The hono app plus what the server wrapper needs to drain it. */
export interface ServeApp {
  app: Hono;
  metrics: ServeMetrics;
  batcher: MicroBatcher<Query, Answer>;
  limits: ServeLimits;
  /** Set on close: new requests are refused (503) while in-flight ones finish. */
  draining: { value: boolean };
  inFlight: () => number;
}

export function createApp(engine: SearchEngine, o: AppOptions = {}): ServeApp {
  const limits = { ...DEFAULT_LIMITS, ...o.limits };
  const metrics = new ServeMetrics();
  const batcher = new MicroBatcher<Query, Answer>((qs) => engine.answer(qs), { ...DEFAULT_BATCH, ...o.batch, onBatch: (n) => metrics.batch(n) });
  metrics.queueDepth = () => batcher.queued;
  const draining = { value: false };
  const defaultMode: Mode = engine.models.length > 0 ? 'dense' : 'bm25';
  const tokenHash = o.token !== undefined ? createHash('sha256').update(o.token).digest() : null;

  const requestSchema = z.strictObject({
    query: z.string().optional(),
    queries: z.array(z.string()).min(1).max(limits.maxQueries).optional(),
    k: z.number().int().min(1).max(limits.maxK).default(Math.min(10, limits.maxK)),
    mode: z.enum(['dense', 'bm25', 'hybrid']).default(defaultMode),
    model: z.string().optional(),
    text: z.boolean().default(false),
  });

  const app = new Hono();
  app.use('*', async (c, next) => {
    const t0 = performance.now();
    if (draining.value && c.req.path !== '/healthz') {
      metrics.request(c.req.method, 'draining', 503, (performance.now() - t0) / 1000);
      return c.json(errorBody('draining', 'the server is shutting down'), 503, { connection: 'close' });
    }
    metrics.inFlight++;
    try {
      await next();
    } finally {
      metrics.inFlight--;
      c.header('x-content-type-options', 'nosniff');
      c.header('cache-control', 'no-store');
      metrics.request(c.req.method, c.req.routePath === '/*' || c.req.routePath === '*' ? 'other' : c.req.routePath, c.res.status, (performance.now() - t0) / 1000);
    }
    return undefined;
  });
  const auth = async (c: Context, next: () => Promise<void>): Promise<void> => {
    if (tokenHash !== null) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header('authorization') ?? '');
      const got = m !== null ? createHash('sha256').update(m[1] as string).digest() : null;
      if (got === null || !timingSafeEqual(got, tokenHash)) {
        c.header('www-authenticate', 'Bearer realm="drhard"');
        throw new HttpError(401, 'unauthorized', 'a valid bearer token is required (Authorization: Bearer <token>)');
      }
    }
    await next();
  };

  app.get('/healthz', (c) => c.json({ status: draining.value ? 'draining' : 'ok' }, draining.value ? 503 : 200));
  app.get('/metrics', auth, (c) => c.text(metrics.text(), 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }));
  app.get('/v1/info', (c) =>
    c.json({
      models: engine.models,
      bm25: engine.hasBm25,
      retrievers: engine.retrievers(),
      documents: engine.documents,
      maxK: limits.maxK,
      maxQueries: limits.maxQueries,
      maxQueryChars: limits.maxQueryChars,
      maxQueryLength: engine.opts.maxQueryLength,
      hybrid: engine.opts.hybrid,
      auth: tokenHash !== null,
    }),
  );
  app.post(
    '/v1/search',
    auth,
    bodyLimit({ maxSize: limits.maxBodyBytes, onError: () => { throw new HttpError(413, 'body_too_large', `the request body exceeds ${limits.maxBodyBytes} bytes`); } }),
    async (c) => {
      const t0 = performance.now();
      const ct = c.req.header('content-type') ?? '';
      if (!/^application\/json\b/i.test(ct)) throw new HttpError(415, 'unsupported_media_type', 'send the request as application/json');
      let raw: unknown;
      try {
        raw = JSON.parse(await c.req.text());
      } catch (e) {
        throw new HttpError(400, 'bad_json', `the body is not JSON: ${(e as Error).message}`);
      }
      const r = requestSchema.safeParse(raw);
      if (!r.success) {
        const i = r.error.issues[0]!;
        throw new HttpError(400, 'bad_request', `${i.path.length > 0 ? i.path.join('.') : 'body'}: ${i.message}`);
      }
      const b = r.data;
      if ((b.query === undefined) === (b.queries === undefined)) throw new HttpError(400, 'bad_request', 'give exactly one of "query" (a string) and "queries" (an array of strings)');
      const texts = b.query !== undefined ? [b.query] : (b.queries as string[]);
      texts.forEach((t, i) => {
        const where = b.query !== undefined ? 'query' : `queries.${i}`;
        if (t.trim() === '') throw new HttpError(400, 'bad_request', `${where}: the query is empty`);
        if (t.length > limits.maxQueryChars) throw new HttpError(400, 'query_too_long', `${where}: ${t.length} characters; the limit is ${limits.maxQueryChars}`);
      });
      const why = engine.check({ mode: b.mode, model: b.model });
      if (why !== null) throw new HttpError(400, 'bad_request', why);
      const model = b.mode === 'bm25' ? '' : (b.model ?? (engine.models[0] as string));
      let answers: Answer[];
      try {
        answers = await batcher.submit(texts.map((text) => ({ text, k: b.k, mode: b.mode, model })));
      } catch (e) {
        if (e instanceof QueueFullError) throw new HttpError(503, 'busy', e.message);
        throw e;
      }
      metrics.queries(b.mode, texts.length);
      const results = await Promise.all(
        answers.map(async (a, i) => ({
          query: texts[i],
          truncated: a.truncated,
          hits: await Promise.all(a.hits.map(async (h, j) => ({ rank: j + 1, id: h.id, score: h.score, ...(b.text ? { text: await engine.text(h.offset) } : {}) }))),
        })),
      );
      return c.json({ mode: b.mode, model: b.mode === 'bm25' ? null : model, k: b.k, maxQueryLength: engine.opts.maxQueryLength, tookMs: performance.now() - t0, results });
    },
  );
  const page = (body: string, type: string) => (c: Context) =>
    c.body(body, 200, { 'content-type': type, 'content-security-policy': CSP, 'referrer-policy': 'no-referrer', 'x-frame-options': 'DENY' });
  app.get('/', page(PAGE_HTML, 'text/html; charset=utf-8'));
  app.get('/app.js', page(PAGE_JS, 'text/javascript; charset=utf-8'));
  app.get('/app.css', page(PAGE_CSS, 'text/css; charset=utf-8'));
  app.get('/favicon.ico', (c) => c.body(null, 204));
  app.all('/v1/search', () => {
    throw new HttpError(405, 'method_not_allowed', 'use POST /v1/search');
  });
  app.notFound((c) => c.json(errorBody('not_found', `no route ${c.req.method} ${c.req.path}`), 404));
  app.onError((e, c) => {
    if (e instanceof HttpError) return c.json(errorBody(e.code, e.message), e.status);
    o.logger?.error({ err: e }, 'request failed');
    return c.json(errorBody('internal', 'the search failed; see the server log'), 500);
  });
  return { app, metrics, batcher, limits, draining, inFlight: () => metrics.inFlight };
}

export interface RunningServer {
  url: string;
  host: string;
  port: number;
  server: Server;
  serveApp: ServeApp;
  /** Stops accepting, answers what is in flight (up to `graceMs`), closes the connections. */
  close(graceMs?: number): Promise<void>;
}

/** Binds `createApp(engine)` on host:port (port 0: any free port). */
export async function startServer(engine: SearchEngine, o: AppOptions & { host: string; port: number }): Promise<RunningServer> {
  const sa = createApp(engine, o);
  const l = sa.limits;
  const server = createAdaptorServer({
    fetch: sa.app.fetch,
    hostname: o.host,
    serverOptions: {
      requestTimeout: l.requestTimeoutMs,
      headersTimeout: Math.min(l.headersTimeoutMs, l.requestTimeoutMs),
      keepAliveTimeout: l.keepAliveTimeoutMs,
      // How often timed-out requests are looked for (Node's default, 30 s, would let a slow client overstay).
      connectionsCheckingInterval: Math.min(1000, l.headersTimeoutMs),
    },
  }) as Server;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const hostInUrl = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  let closing: Promise<void> | null = null;
  return {
    url: `http://${hostInUrl}:${addr.port}`,
    host: addr.address,
    port: addr.port,
    server,
    serveApp: sa,
    close(graceMs = 30_000): Promise<void> {
      closing ??= (async () => {
        sa.draining.value = true;
        const closed = new Promise<void>((r) => server.close(() => r()));
        server.closeIdleConnections();
        const deadline = Date.now() + graceMs;
        while ((sa.inFlight() > 0 || !sa.batcher.idle) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
        server.closeIdleConnections();
        // Whatever is still open (a slow client mid-request, a keep-alive connection) is cut.
        const cut = setTimeout(() => server.closeAllConnections(), 200);
        await closed;
        clearTimeout(cut);
      })();
      return closing;
    },
  };
}
