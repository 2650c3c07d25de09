/**
 * The HTTP endpoint of a run (issue 17): `GET /metrics` (Prometheus text),
 * `GET /healthz` (liveness) and `GET /readyz` (readiness), JSON bodies with
 * the reason. Nothing else: another path is 404, another method 405, a
 * request body is never read, headers are bounded in size and time, and
 * connections are capped. With a token, every request needs
 * `Authorization: Bearer <token>` (401 without; compared in constant time).
 * The CLI refuses to bind beyond loopback without a token (`options.ts`);
 * this module checks it again so no caller can forget.
 *
 * @example
 * ```ts
 * const server = await startMetricsServer({ host: '127.0.0.1', port: 0, token: undefined }, exporter, health);
 * console.log(server.url);   // http://127.0.0.1:41233
 * await server.close();      // when the run ends
 * ```
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EddyError } from '../errors/index.ts';
import type { RunHealth } from './health.ts';
import { isLoopback, type MetricsServerOptions } from './options.ts';
import type { RunExporter } from './prometheus.ts';

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
    (req, res) => void handle(req, res, expected, exporter, health),
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

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  expected: Buffer | undefined,
  exporter: RunExporter,
  health: RunHealth,
): Promise<void> {
  try {
    if (expected !== undefined && !timingSafeEqual(digest(req.headers.authorization ?? ''), expected)) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="eddy"');
      return json(res, 401, { status: 'unauthorized', reason: 'send Authorization: Bearer <token>' });
    }
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics' && path !== '/healthz' && path !== '/readyz')
      return json(res, 404, { status: 'not found', reason: 'the paths are /metrics, /healthz and /readyz' });
    if (req.method !== 'GET') {
      res.setHeader('Allow', 'GET');
      return json(res, 405, { status: 'method not allowed', reason: 'only GET' });
    }
    if (path === '/metrics') {
      const text = await exporter.scrape();
      res.writeHead(200, { 'Content-Type': exporter.contentType, 'Cache-Control': 'no-store' });
      res.end(text);
      return;
    }
    const probe = path === '/healthz' ? health.liveness() : health.readiness();
    json(res, probe.ok ? 200 : 503, probe.body);
  } catch (e) {
    if (!res.headersSent) json(res, 500, { status: 'error', reason: String((e as Error)?.message ?? e) });
    else res.destroy();
  }
}

function json(res: ServerResponse, status: number, body: object): void {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(`${JSON.stringify(body)}\n`);
}

/** Fixed-length digests, so the comparison takes the same time whatever the lengths. */
function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
