/**
 * The SSE push sink: serves the pipeline's results as Server-Sent Events
 * (`text/event-stream`) to every connected client — a live dashboard's feed.
 *
 * Each record is one event (`id:` a counter of this sink, `event:` when
 * set, `data:` the serialized record), written to every client at once per
 * batch; a comment line every `heartbeatMs` keeps idle connections and
 * proxies open. A client whose send buffer holds more than
 * `clientBufferBytes` (it reads slower than results arrive) is dropped,
 * with the reason kept in `stats().drops`, instead of buffering without
 * bound; an `EventSource` reconnects by itself and continues from the live
 * results (no replay of missed events, `Last-Event-ID` is not honoured).
 *
 * Guarantee: **best-effort**. Results are pushed to whoever is connected
 * when they arrive; nothing is kept for absent or dropped clients, and the
 * pipeline never waits for a client (a dashboard must not slow the job).
 *
 * Binds `127.0.0.1` by default; any other address needs `token`
 * (exposure.ts; `EventSource` cannot send headers, so remote browsers need
 * a proxy that adds it). WebSocket is not offered: no WebSocket library is
 * pinned, and SSE covers one-way push over plain HTTP.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Sink, SinkWriter } from '../../core/connector.ts';
import { bearer } from './exposure.ts';
import { type Bound, listen } from './listen.ts';
import { resolveSseSinkOptions, type SseSinkOptions } from './options.ts';

/** What one `sseSink` has pushed (since construction). */
export interface SseSinkStats {
  /** Clients connected now. */
  clients: number;
  /** Clients that ever connected. */
  connected: number;
  /** Events written (each counts once, whatever the number of clients). */
  events: number;
  /** Clients dropped for falling behind. */
  dropped: number;
  /** The reasons of the latest drops (at most 100). */
  drops: string[];
}

/** An SSE sink with its address once it listens. */
export interface SseSink<T> extends Sink<T> {
  /** Resolves with the bound address once the pipeline has opened the sink (port 0: the port chosen). */
  listening(): Promise<Bound>;
  stats(): Readonly<SseSinkStats>;
}

interface Client {
  readonly res: ServerResponse;
  readonly peer: string;
}

const LINE = /\r\n|\r|\n/;

/**
 * Pushes results to browsers and dashboards as Server-Sent Events.
 *
 * @example
 * ```ts
 * totals.sink(sseSink<Total>({ port: 8081, path: '/totals', event: 'total' }));
 * // in a browser: new EventSource('http://127.0.0.1:8081/totals').addEventListener('total', (e) => show(JSON.parse(e.data)));
 * ```
 */
export function sseSink<T = unknown>(options: SseSinkOptions<T>): SseSink<T> {
  const o = resolveSseSinkOptions(options);
  const authorized = bearer(o.token);
  const serialize = o.serialize ?? ((v: T) => JSON.stringify(v));
  const eventOf = o.event;
  const stats: SseSinkStats = { clients: 0, connected: 0, events: 0, dropped: 0, drops: [] };
  let bound: Bound | undefined;
  let waiters: ((b: Bound) => void)[] = [];
  return {
    kind: 'sse',
    guarantee: 'best-effort',
    stats: () => ({ ...stats, drops: [...stats.drops] }),
    listening: () =>
      bound !== undefined ? Promise.resolve(bound) : new Promise((resolve) => waiters.push(resolve)),
    async open(ctx): Promise<SinkWriter<T>> {
      const clients = new Set<Client>();
      let id = 0;
      const refuse = (
        res: ServerResponse,
        status: number,
        error: string,
        headers: Record<string, string> = {},
      ) => {
        res.writeHead(status, { 'content-type': 'application/json', connection: 'close', ...headers });
        res.end(JSON.stringify({ error }));
      };
      const drop = (c: Client, reason: string) => {
        clients.delete(c);
        stats.clients = clients.size;
        stats.dropped++;
        stats.drops.push(reason);
        if (stats.drops.length > 100) stats.drops.shift();
        c.res.destroy();
      };
      const send = (text: string) => {
        const bytes = Buffer.byteLength(text);
        for (const c of clients) {
          const waiting = c.res.writableLength;
          // One batch larger than the whole buffer still goes to a client that has caught up.
          if (waiting > 0 && waiting + bytes > o.clientBufferBytes) {
            drop(
              c,
              `slow client ${c.peer} dropped: ${waiting} bytes still unsent and ${bytes} more would exceed clientBufferBytes ${o.clientBufferBytes}`,
            );
          } else c.res.write(text);
        }
      };
      const handle = (req: IncomingMessage, res: ServerResponse) => {
        const path = (req.url ?? '/').split('?')[0];
        if (path !== o.path) return refuse(res, 404, `no such path ${JSON.stringify(path)}; GET ${o.path}`);
        if (req.method !== 'GET') return refuse(res, 405, 'use GET', { allow: 'GET' });
        if (!authorized(req))
          return refuse(res, 401, 'missing or wrong bearer token; send "Authorization: Bearer <token>"', {
            'www-authenticate': 'Bearer',
          });
        if (clients.size >= o.maxClients)
          return refuse(res, 503, `${o.maxClients} clients are connected (maxClients); retry later`, {
            'retry-after': '5',
          });
        res.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-cache, no-transform',
          connection: 'keep-alive',
          'x-accel-buffering': 'no',
        });
        res.write(': connected\n\n');
        const c: Client = { res, peer: `${req.socket.remoteAddress}:${req.socket.remotePort}` };
        clients.add(c);
        stats.clients = clients.size;
        stats.connected++;
        res.on('close', () => {
          clients.delete(c);
          stats.clients = clients.size;
        });
      };
      const server = createServer(handle);
      const b = await listen('sseSink', ctx.stepId, server, o.host, o.port, o.path);
      bound = b;
      for (const w of waiters) w(b);
      waiters = [];
      const heartbeat = setInterval(() => send(': heartbeat\n\n'), o.heartbeatMs);
      heartbeat.unref();
      return {
        write(values) {
          stats.events += values.length;
          if (clients.size === 0) {
            id += values.length;
            return;
          }
          let text = '';
          for (const v of values) {
            text += `id: ${++id}\n`;
            if (eventOf !== undefined)
              text += `event: ${typeof eventOf === 'string' ? eventOf : oneLine(eventOf(v))}\n`;
            const data = serialize(v);
            text += LINE.test(data) ? `data: ${data.split(LINE).join('\ndata: ')}\n\n` : `data: ${data}\n\n`;
          }
          send(text);
        },
        close: () =>
          new Promise<void>((resolve) => {
            clearInterval(heartbeat);
            bound = undefined;
            for (const c of clients) c.res.end();
            clients.clear();
            stats.clients = 0;
            server.close(() => resolve());
            server.closeAllConnections();
          }),
      };
    },
  };
}

/** An event name may not break the frame: line breaks become spaces. */
function oneLine(name: string): string {
  return String(name).replace(/[\r\n]+/g, ' ');
}
