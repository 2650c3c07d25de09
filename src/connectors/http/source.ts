/**
 * The HTTP ingest source: clients POST JSON or NDJSON records, the pipeline
 * takes them from a bounded queue.
 *
 * Built on `node:http` rather than a framework: it serves one route, and
 * what matters here — refusing a body by its declared length before reading
 * it, counting bytes as they stream, answering 429 before reading when the
 * queue is full — is a few lines on the raw request, with no dependency to
 * pin, audit and load into every pipeline that does not use it.
 *
 * Answers: **202** `{"accepted": n}` once every record of the request is in
 * the queue (and only then); **400** with the reason when a record cannot be
 * decoded (invalid JSON or UTF-8, nesting beyond `limits.maxDepth`, a
 * record beyond `limits.maxBytes`, a `__proto__`/`constructor`/`prototype`
 * key) or `parse` refuses it — nothing of that request is queued; **401**
 * without the bearer token (when one is set); **404**, **405**, **415** for
 * another path, method or content type; **413** for a body over
 * `maxBodyBytes` (by `Content-Length` before reading, or while streaming);
 * **429** with `Retry-After` when the request's records do not fit in the
 * queue — the pipeline is behind (a slow sink), and the client should retry.
 * (Rate control per client arrives with the load-balancing issue.)
 *
 * Guarantee: **at-most-once; not replayable** (`replayable: false`). HTTP
 * has no position to go back to: a 202 means "queued in this process", so a
 * crash loses the queued records and the effects of those taken since the
 * last checkpoint. A client that needs more must retry until a downstream
 * acknowledgement of its own. `position()` is a marker only, so checkpointed
 * runs accept the source.
 *
 * Binds `127.0.0.1` by default; any other address needs `token`
 * (exposure.ts). Reads in subtask 0 only. Event time is ingestion time
 * unless the pipeline's `timestamp` option reads it from the record.
 */

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { resolveDecodeLimits } from '../../codec/index.ts';
import type { Source, SourceBatch, SourceReader } from '../../core/connector.ts';
import { pushRate } from '../rate-control.ts';
import { ACCEPTED_TYPES, bodyKind, recordsOf } from './body.ts';
import { bearer } from './exposure.ts';
import { type Bound, listen } from './listen.ts';
import { type HttpSourceOptions, resolveHttpSourceOptions } from './options.ts';

/** What one `httpSource` has answered (since construction). */
export interface HttpSourceStats {
  /** Requests received. */
  requests: number;
  /** Records queued (answered 202). */
  accepted: number;
  /** Requests answered with each error status. */
  refused: Record<string, number>;
  /** The most records queued at once. */
  maxQueued: number;
  /** With `rateControl`: the admitted rate now, records/s (Infinity before the first estimate). */
  rate?: number;
}

/** An HTTP ingest source: not replayable, with its address once it listens. */
export interface HttpSource<T> extends Source<T> {
  readonly replayable: false;
  /** Resolves with the bound address once the pipeline has opened the source (port 0: the port chosen). */
  listening(): Promise<Bound>;
  stats(): Readonly<HttpSourceStats>;
}

/**
 * Accepts records by HTTP POST.
 *
 * @example
 * ```ts
 * const ingest = httpSource<Order>({ port: 8080, path: '/orders', parse: (v) => v as Order });
 * p.source('orders', ingest).map(enrich).sink(out);
 * // curl -H 'content-type: application/x-ndjson' --data-binary @orders.ndjson http://127.0.0.1:8080/orders
 * ```
 */
export function httpSource<T = unknown>(options: HttpSourceOptions<T>): HttpSource<T> {
  const o = resolveHttpSourceOptions(options);
  const limits = resolveDecodeLimits({ maxBytes: o.maxBodyBytes, ...o.limits });
  const authorized = bearer(o.token);
  const stats: HttpSourceStats = { requests: 0, accepted: 0, refused: {}, maxQueued: 0 };
  let bound: Bound | undefined;
  let waiters: ((b: Bound) => void)[] = [];
  return {
    kind: 'http',
    replayable: false,
    stats: () => ({ ...stats, refused: { ...stats.refused } }),
    listening: () =>
      bound !== undefined ? Promise.resolve(bound) : new Promise((resolve) => waiters.push(resolve)),
    async open(ctx): Promise<SourceReader<T>> {
      let queue: T[] = [];
      let head = 0;
      let closed = false;
      let wake: (() => void) | undefined;
      const room = () => o.queueSize - (queue.length - head);
      const rc = pushRate(
        o.rateControl,
        () => queue.length - head,
        (rate) => {
          stats.rate = rate;
        },
      );

      const answer = (
        res: ServerResponse,
        status: number,
        body: object,
        headers: Record<string, string> = {},
      ) => {
        if (status >= 400) stats.refused[status] = (stats.refused[status] ?? 0) + 1;
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(JSON.stringify(body));
      };
      // Refused before the body is read: close the connection rather than read what we will not use.
      const refuse = (
        res: ServerResponse,
        status: number,
        error: string,
        headers: Record<string, string> = {},
      ) => answer(res, status, { error }, { connection: 'close', ...headers });
      const busy = (res: ServerResponse, why: string) =>
        refuse(res, 429, `${why}; retry after ${o.retryAfterSeconds} s`, {
          'retry-after': String(o.retryAfterSeconds),
        });

      const handle = (req: IncomingMessage, res: ServerResponse) => {
        stats.requests++;
        const path = (req.url ?? '/').split('?')[0];
        if (path !== o.path)
          return refuse(res, 404, `no such path ${JSON.stringify(path)}; POST to ${o.path}`);
        if (req.method !== 'POST') return refuse(res, 405, `use POST`, { allow: 'POST' });
        if (!authorized(req))
          return refuse(res, 401, 'missing or wrong bearer token; send "Authorization: Bearer <token>"', {
            'www-authenticate': 'Bearer',
          });
        const kind = bodyKind(req.headers['content-type']);
        if (kind === undefined)
          return refuse(
            res,
            415,
            `content type ${JSON.stringify(req.headers['content-type'] ?? '')} is not accepted; send ${ACCEPTED_TYPES}`,
          );
        const declared = Number(req.headers['content-length'] ?? Number.NaN);
        if (declared > o.maxBodyBytes)
          return refuse(res, 413, `body is ${declared} bytes; the limit is ${o.maxBodyBytes} (maxBodyBytes)`);
        if (closed) return refuse(res, 503, 'the pipeline is stopping');
        if (room() <= 0) return busy(res, `the queue is full (${o.queueSize} records)`);
        const chunks: Buffer[] = [];
        let size = 0;
        let over = false;
        req.on('data', (chunk: Buffer) => {
          if (over) return;
          size += chunk.length;
          if (size > o.maxBodyBytes) {
            over = true;
            chunks.length = 0;
            refuse(res, 413, `body exceeds ${o.maxBodyBytes} bytes (maxBodyBytes)`);
            req.pause();
            return;
          }
          chunks.push(chunk);
        });
        req.on('error', () => {});
        req.on('end', () => {
          if (over) return;
          const r = recordsOf(Buffer.concat(chunks, size), kind, limits, o.parse);
          if (!r.ok) return answer(res, 400, { error: r.reason });
          if (closed) return refuse(res, 503, 'the pipeline is stopping');
          if (r.values.length > room())
            return busy(
              res,
              `${r.values.length} records do not fit in the queue (${o.queueSize - room()} of ${o.queueSize} queued)`,
            );
          const admitted = rc?.admit(r.values.length, Date.now());
          if (admitted !== undefined && !admitted.ok)
            return refuse(
              res,
              429,
              `the pipeline processes about ${Math.round(rc!.rate)} records/s (rateControl); retry after ${admitted.retryAfterSeconds} s`,
              { 'retry-after': String(admitted.retryAfterSeconds) },
            );
          for (const v of r.values) queue.push(v);
          stats.maxQueued = Math.max(stats.maxQueued, queue.length - head);
          stats.accepted += r.values.length;
          wake?.();
          answer(res, 202, { accepted: r.values.length });
        });
      };

      const server = createServer({ requestTimeout: o.requestTimeoutMs }, handle);
      const b = await listen('httpSource', ctx.stepId, server, o.host, o.port, o.path);
      bound = b;
      for (const w of waiters) w(b);
      waiters = [];
      return {
        async poll(max): Promise<SourceBatch<T>> {
          rc?.polling();
          if (head >= queue.length) {
            await new Promise<void>((resolve) => {
              const t = setTimeout(done, 50);
              function done() {
                clearTimeout(t);
                wake = undefined;
                ctx.signal.removeEventListener('abort', done);
                resolve();
              }
              wake = done;
              ctx.signal.addEventListener('abort', done, { once: true });
            });
          }
          const end = Math.min(queue.length, head + max);
          const values = queue.slice(head, end);
          head = end;
          rc?.took(values.length);
          if (head === queue.length) {
            queue = [];
            head = 0;
          } else if (head > 4096 && head * 2 > queue.length) {
            queue = queue.slice(head);
            head = 0;
          }
          return { values };
        },
        // Not a replay position: HTTP cannot go back. Kept so runs with checkpoints accept the source.
        position: () => ({ replayable: false }),
        close: () =>
          new Promise<void>((resolve) => {
            closed = true;
            bound = undefined;
            rc?.stop();
            server.close(() => resolve());
            server.closeAllConnections();
          }),
      };
    },
  };
}
