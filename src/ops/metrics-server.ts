/**
 * The HTTP endpoint of a run (issue 17): `GET /metrics` (Prometheus text),
 * `GET /healthz` (liveness) and `GET /readyz` (readiness), JSON bodies with
 * the reason; with a dashboard (`--ui`) also its page (`/`, `/dashboard.js`,
 * `/dashboard.css`) and its data (`/api/state`, `/api/events` as
 * Server-Sent Events). Nothing else: another path is 404, another method 405,
 * a request body is never read, headers are bounded in size and time, and
 * connections are capped. With a token, every request needs
 * `Authorization: Bearer <token>` (401 without; compared in constant time),
 * or — for a browser, which cannot set that header on a page or an
 * EventSource — the `eddy_token` cookie that `GET /?token=<token>` sets
 * (HttpOnly, SameSite=Strict) before it redirects to `/`. Without a token the
 * server answers only requests whose Host is loopback, so a web page
 * elsewhere cannot read it through DNS rebinding. The CLI refuses to bind
 * beyond loopback without a token (`options.ts`); this module checks it again
 * so no caller can forget.
 *
 * @example
 * ```ts
 * const server = await startMetricsServer({ host: '127.0.0.1', port: 0, token: undefined }, exporter, health);
 * console.log(server.url);   // http://127.0.0.1:41233
 * await server.close();      // when the run ends
 * ```
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Key } from '../core/key-groups.ts';
import {
  compareKeys,
  SCAN_LIMIT_MAX,
  type StateScan,
  type StateScanOptions,
  scanMatches,
} from '../core/metrics.ts';
import { EddyError } from '../errors/index.ts';
import type { Dashboard } from './dashboard.ts';
import type { RunHealth } from './health.ts';
import { isLoopback, type MetricsServerOptions } from './options.ts';
import type { RunExporter } from './prometheus.ts';
import { elsewhereReason, MAX_HOPS, pinnedKey, redirectTo, scanEverywhere } from './state-peers.ts';

export interface MetricsServer {
  /** `http://host:port`, with the port actually bound (port 0 picks one). */
  readonly url: string;
  readonly port: number;
  /** Stops listening and ends open connections. */
  close(): Promise<void>;
}

/** Slow or idle clients are cut off: a scrape is one small request. */
const HEADERS_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 10_000;
const MAX_CONNECTIONS = 32;

/** Listens on `options.host:port`; rejects (an EddyError naming the fix) when it cannot. */
export async function startMetricsServer(
  options: MetricsServerOptions,
  exporter: RunExporter,
  health: RunHealth,
  dashboard?: Dashboard,
): Promise<MetricsServer> {
  if (options.token === undefined && !isLoopback(options.host))
    throw new EddyError(
      'EDDY_CONFIG_INVALID',
      `the metrics server would listen on ${options.host} without a token; set EDDY_METRICS_TOKEN (or --metrics-token), or bind 127.0.0.1`,
    );
  const expected = options.token === undefined ? undefined : digest(`Bearer ${options.token}`);
  const server = createServer(
    {
      headersTimeout: HEADERS_TIMEOUT_MS,
      requestTimeout: REQUEST_TIMEOUT_MS,
      maxHeaderSize: 8192,
      keepAliveTimeout: 5_000,
    },
    (req, res) => void handle(req, res, { expected, exporter, health, dashboard }),
  );
  server.maxConnections = MAX_CONNECTIONS;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        new EddyError(
          'EDDY_CONFIG_INVALID',
          `the metrics server cannot listen on ${options.host}:${options.port} (${e.code ?? e.message}); ${e.code === 'EADDRINUSE' ? 'pick another --metrics-port, or 0 for any free one' : 'pass another --metrics-host or --metrics-port'}`,
          { cause: e },
        ),
      ),
    );
    server.listen(options.port, options.host, () => resolve());
  });
  server.on('error', () => {}); // after listening, a socket's error ends that socket only
  const port = (server.address() as AddressInfo).port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `http://${host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

interface Served {
  readonly expected: Buffer | undefined;
  readonly exporter: RunExporter;
  readonly health: RunHealth;
  readonly dashboard: Dashboard | undefined;
}

const PATHS = ['/metrics', '/healthz', '/readyz'];
const UI_PATHS = ['/', '/dashboard.js', '/dashboard.css', '/api/state', '/api/events', '/api/query'];

async function handle(req: IncomingMessage, res: ServerResponse, o: Served): Promise<void> {
  try {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname;
    // GET /state/<step>/<key>: the same query as /api/query, as a path (Kafka Streams' interactive-query style).
    const statePath = path.startsWith('/state/');
    const ui = o.dashboard !== undefined && (UI_PATHS.includes(path) || statePath);
    if (o.expected === undefined && !isLoopback(hostName(req.headers.host)))
      return json(res, 403, {
        status: 'forbidden',
        reason: `this server answers only requests for localhost, 127.0.0.1 or [::1] without a token; received Host ${JSON.stringify(req.headers.host ?? '')}`,
      });
    if (o.expected !== undefined && path === '/' && ui && url.searchParams.has('token')) {
      // A browser's way in: the token once in the address, then a cookie, and the address without it.
      if (!timingSafeEqual(digest(`Bearer ${url.searchParams.get('token')}`), o.expected))
        return json(res, 401, { status: 'unauthorized', reason: 'the token does not match' });
      res.writeHead(303, {
        Location: '/',
        'Set-Cookie': `eddy_token=${encodeURIComponent(url.searchParams.get('token')!)}; HttpOnly; SameSite=Strict; Path=/`,
        'Cache-Control': 'no-store',
      });
      res.end();
      return;
    }
    if (o.expected !== undefined && !authorized(req, o.expected)) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="eddy"');
      return json(res, 401, {
        status: 'unauthorized',
        reason:
          o.dashboard === undefined
            ? 'send Authorization: Bearer <token>'
            : 'send Authorization: Bearer <token>, or open /?token=<token> in a browser',
      });
    }
    if (!PATHS.includes(path) && !ui)
      return json(res, 404, {
        status: 'not found',
        reason:
          o.dashboard === undefined
            ? 'the paths are /metrics, /healthz and /readyz (the dashboard at / needs --ui)'
            : 'the paths are / (the dashboard), /api/state, /api/events, /api/query, /state/<step>/<key>, /metrics, /healthz and /readyz',
      });
    if (req.method !== 'GET') {
      res.setHeader('Allow', 'GET');
      return json(res, 405, { status: 'method not allowed', reason: 'only GET' });
    }
    if (path === '/metrics') {
      const text = await o.exporter.scrape();
      res.writeHead(200, { 'Content-Type': o.exporter.contentType, 'Cache-Control': 'no-store' });
      res.end(text);
      return;
    }
    if (path === '/healthz' || path === '/readyz') {
      const probe = path === '/healthz' ? o.health.liveness() : o.health.readiness();
      return json(res, probe.ok ? 200 : 503, probe.body);
    }
    const dashboard = o.dashboard!;
    if (path === '/api/state') return json(res, 200, dashboard.state());
    if (path === '/api/query' || statePath) {
      let step: string | null;
      let key: string | null;
      if (statePath) {
        // /state/<step>/<key>: the step id has no "/" (step ids are [A-Za-z0-9_.-]); the key is the rest, URL-encoded.
        const rest = path.slice('/state/'.length);
        const slash = rest.indexOf('/');
        if (slash < 0) return scan(req, res, dashboard, rest, url.searchParams);
        try {
          step = slash < 0 ? null : decodeURIComponent(rest.slice(0, slash));
          key = slash < 0 ? null : decodeURIComponent(rest.slice(slash + 1));
        } catch {
          step = key = null;
        }
      } else {
        step = url.searchParams.get('step');
        key = url.searchParams.get('key');
      }
      if (step === null || key === null || step.length > 256 || key.length > 4096)
        return json(res, 400, {
          status: 'bad request',
          reason:
            'send /state/<step id>/<key> or /api/query?step=<step id>&key=<key> (the key URL-encoded, up to 4096 characters)',
        });
      const keyType = url.searchParams.get('keyType');
      const pinned = pinnedKey(key, keyType);
      if (keyType !== null && pinned === undefined)
        return json(res, 400, {
          status: 'bad request',
          reason: 'keyType is "string" or "number" (and then the key reads as a number)',
        });
      let state: Awaited<ReturnType<Dashboard['query']>>;
      try {
        state = await dashboard.query(step, key, pinned);
      } catch (e) {
        if (e instanceof EddyError && e.retriable) {
          // A Kafka application's partition being restored here: ask again shortly.
          res.setHeader('Retry-After', '1');
          return json(res, 503, { status: 'unavailable', reason: e.message });
        }
        return json(res, 404, { status: 'not found', reason: String((e as Error)?.message ?? e) });
      }
      if (state === undefined)
        return json(res, 501, {
          status: 'not implemented',
          reason: 'this run cannot be queried',
        });
      if (!('entries' in state)) {
        // A Kafka application's key whose partition another instance runs: the caller goes there.
        const hops = Number(url.searchParams.get('hops') ?? 0);
        if (state.endpoint === undefined || !statePath)
          return json(res, 404, { status: 'elsewhere', reason: elsewhereReason(state), location: state });
        if (!Number.isInteger(hops) || hops >= MAX_HOPS) {
          res.setHeader('Retry-After', '1');
          return json(res, 503, {
            status: 'moving',
            reason: `key ${JSON.stringify(state.key)} was sent on ${hops} times: its partition ${state.partition} is moving between instances; try again`,
            location: state,
          });
        }
        const location = redirectTo(state, step, url.searchParams, hops);
        res.writeHead(307, {
          Location: location,
          'Content-Type': 'application/json; charset=utf-8',
          'Cache-Control': 'no-store',
        });
        res.end(`${JSON.stringify({ status: 'elsewhere', location: state, url: location })}\n`);
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
      res.end(stateJson(state, entryFilter(url.searchParams)));
      return;
    }
    if (path === '/api/events') {
      if (!dashboard.subscribe(res))
        json(res, 503, { status: 'unavailable', reason: 'too many pages are listening; close one' });
      return;
    }
    const file = path === '/' ? 'index.html' : path.slice(1);
    res.writeHead(200, {
      'Content-Type': CONTENT_TYPES[file.slice(file.lastIndexOf('.'))]!,
      'Cache-Control': 'no-cache',
      'X-Content-Type-Options': 'nosniff',
      'X-Frame-Options': 'DENY',
      'Referrer-Policy': 'no-referrer',
      'Content-Security-Policy':
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'",
    });
    res.end(await asset(file));
  } catch (e) {
    if (!res.headersSent) json(res, 500, { status: 'error', reason: String((e as Error)?.message ?? e) });
    else res.destroy();
  }
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

/** The dashboard's committed bundle (`npm run build:ui`), read once. */
const assets = new Map<string, Promise<Buffer>>();
function asset(file: string): Promise<Buffer> {
  let found = assets.get(file);
  if (found === undefined) {
    found = readFile(new URL(`../../web/dist/${file}`, import.meta.url));
    found.catch(() => assets.delete(file));
    assets.set(file, found);
  }
  return found;
}

function authorized(req: IncomingMessage, expected: Buffer): boolean {
  if (timingSafeEqual(digest(req.headers.authorization ?? ''), expected)) return true;
  const cookie = /(?:^|;\s*)eddy_token=([^;]*)/.exec(req.headers.cookie ?? '')?.[1];
  if (cookie === undefined) return false;
  let token: string;
  try {
    token = decodeURIComponent(cookie);
  } catch {
    return false;
  }
  return timingSafeEqual(digest(`Bearer ${token}`), expected);
}

/** `host:port`, `[::1]:port` or `host` → the host. */
function hostName(host: string | undefined): string {
  if (host === undefined) return '';
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  const colon = host.lastIndexOf(':');
  return colon < 0 ? host : host.slice(0, colon);
}

function json(res: ServerResponse, status: number, body: object): void {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(`${JSON.stringify(body)}\n`);
}

/** Fixed-length digests, so the comparison takes the same time whatever the lengths. */
function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** A key bound of a scan: a number when it reads as one, else the string. */
const keyBound = (v: string | null): string | number | undefined =>
  v === null ? undefined : /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v;

/**
 * GET /state/<step>?prefix=&from=&to=&limit=: a scan of the step's keys
 * (`RunningPipeline.scanState`). In a Kafka application, of every instance's
 * partitions (state-peers.ts), unless `scope=local` asks for this instance's.
 */
async function scan(
  req: IncomingMessage,
  res: ServerResponse,
  dashboard: Dashboard,
  rawStep: string,
  q: URLSearchParams,
): Promise<void> {
  let step: string;
  try {
    step = decodeURIComponent(rawStep);
  } catch {
    step = '';
  }
  const limit = q.get('limit') === null ? undefined : Number(q.get('limit'));
  const prefix = q.get('prefix');
  if (
    step === '' ||
    step.length > 256 ||
    (prefix?.length ?? 0) > 4096 ||
    (limit !== undefined && (!Number.isInteger(limit) || limit < 1 || limit > SCAN_LIMIT_MAX))
  )
    return json(res, 400, {
      status: 'bad request',
      reason: `send /state/<step id>?prefix=<p>&from=<k>&to=<k>&limit=<1..${SCAN_LIMIT_MAX}> (bounds that read as numbers are numbers)`,
    });
  const from = keyBound(q.get('from'));
  const to = keyBound(q.get('to'));
  let found: StateScan | undefined;
  try {
    const o: StateScanOptions = {
      ...(prefix === null ? {} : { prefix }),
      ...(from === undefined ? {} : { from }),
      ...(to === undefined ? {} : { to }),
      ...(limit === undefined ? {} : { limit }),
    };
    found = await dashboard.scan(step, o);
    const instances = q.get('scope') === 'local' ? undefined : dashboard.instances();
    if (found !== undefined && instances !== undefined)
      found = await scanEverywhere(step, o, found, await instances, q, req.headers.authorization);
  } catch (e) {
    return json(res, 404, { status: 'not found', reason: String((e as Error)?.message ?? e) });
  }
  if (found === undefined)
    return json(res, 501, { status: 'not implemented', reason: 'this run cannot be scanned' });
  res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(stateJson(found, entryFilter(q)));
}

/** Which entries of map state a state answer shows: `entryPrefix`, `entryFrom`, `entryTo`, `entryLimit`. */
function entryFilter(q: URLSearchParams): StateScanOptions & { readonly limit: number } {
  const prefix = q.get('entryPrefix');
  const from = keyBound(q.get('entryFrom'));
  const to = keyBound(q.get('entryTo'));
  const limit = Number(q.get('entryLimit') ?? ENTRY_LIMIT);
  return {
    ...(prefix === null ? {} : { prefix }),
    ...(from === undefined ? {} : { from }),
    ...(to === undefined ? {} : { to }),
    limit: Number.isInteger(limit) && limit > 0 ? Math.min(limit, SCAN_LIMIT_MAX) : ENTRY_LIMIT,
  };
}

/** Map-state entries shown per map unless `entryLimit` says otherwise. */
const ENTRY_LIMIT = 1000;

/**
 * A state answer as JSON. JSON has no Map, Set or bigint: a Map (map state)
 * becomes `{ "entries": [[key, value], …], "size": n, "truncated": bool }`
 * with only the entries `filter` asks for (a prefix or range of string or
 * number map keys, in key order, at most `filter.limit`), a Set an array, a
 * bigint its digits.
 */
function stateJson(value: unknown, filter: StateScanOptions & { readonly limit: number }): string {
  const filtering = filter.prefix !== undefined || filter.from !== undefined || filter.to !== undefined;
  return `${JSON.stringify(value, (_k, v: unknown) => {
    if (typeof v === 'bigint') return v.toString();
    if (v instanceof Set) return [...v];
    if (!(v instanceof Map)) return v;
    const entries: [unknown, unknown][] = [];
    for (const [k, x] of v as Map<unknown, unknown>) {
      if (filtering && !((typeof k === 'string' || typeof k === 'number') && scanMatches(k, filter)))
        continue;
      entries.push([k, x]);
    }
    if (filtering) entries.sort((a, b) => compareKeys(a[0] as Key, b[0] as Key));
    return {
      entries: entries.slice(0, filter.limit),
      size: v.size,
      truncated: entries.length > filter.limit,
    };
  })}\n`;
}
