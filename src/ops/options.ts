/**
 * The operations flags of `eddy run` (issue 17) as one schema: each flag's
 * parse type, its help line and its default live here, and `opsOptions`
 * checks them once, so the CLI only spreads `OPS_FLAGS` into its own and
 * prints `OPS_HELP`.
 *
 * A metrics endpoint bound beyond loopback needs a token: the figures name
 * steps, topics and partitions, and `/readyz` tells anyone who can reach the
 * port when the job restarts. The token comes from `EDDY_METRICS_TOKEN`
 * (preferred: a command line shows in `ps`) or `--metrics-token`.
 *
 * @example
 * ```ts
 * const ops = opsOptions({ 'metrics-port': '9464' }, process.env);
 * if (typeof ops === 'string') console.error(ops); // one line, naming the fix
 * ```
 */

/** Log levels, lowest first: pino's names and numbers, so a JSON line's `level` means what pino says. */
export const LOG_LEVELS = {
  trace: 10,
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  fatal: 60,
  silent: Infinity,
} as const;

export type LogLevel = keyof typeof LOG_LEVELS;

/** The flags, for `parseArgs`, with their help lines and defaults. */
const SCHEMA = {
  ui: {
    type: 'boolean',
    arg: '',
    doc: [
      'Serve a live dashboard at / on the metrics server: job graph,',
      'rates, watermarks, checkpoints, dead letters (on any free port',
      'unless --metrics-port is given)',
    ],
  },
  'metrics-port': {
    type: 'string',
    arg: '<port>',
    doc: ['Serve Prometheus metrics (/metrics), /healthz and /readyz on this', 'port (0 = any free port)'],
  },
  'metrics-host': {
    type: 'string',
    arg: '<host>',
    default: '127.0.0.1',
    doc: [
      'Address the metrics server binds (default 127.0.0.1); any address',
      'beyond loopback needs a token',
    ],
  },
  'metrics-token': {
    type: 'string',
    arg: '<token>',
    doc: [
      'Require "Authorization: Bearer <token>" on every request',
      '(better: set EDDY_METRICS_TOKEN, which ps does not show)',
    ],
  },
  'stall-timeout': {
    type: 'string',
    arg: '<s>',
    default: '300',
    doc: [
      'With --kafka and a metrics port: /healthz and /readyz fail while a',
      'partition has input and has not moved for this long (0 = never)',
    ],
  },
  'log-level': {
    type: 'string',
    arg: '<level>',
    default: 'info',
    doc: ['Least severe log line written: trace, debug, info (default), warn,', 'error, fatal, silent'],
  },
  'log-format': {
    type: 'string',
    arg: '<fmt>',
    default: 'text',
    doc: [
      "eddy's own lines (restarts, failures, resumes) as text (default) or",
      'json (pino: one object per line, with the pipeline and a run id)',
    ],
  },
} as const;

/** The flags for `parseArgs` (strings, checked by {@link opsOptions}). */
export const OPS_FLAGS: {
  readonly [K in keyof typeof SCHEMA]: { readonly type: (typeof SCHEMA)[K]['type'] };
} = {
  ui: { type: 'boolean' },
  'metrics-port': { type: 'string' },
  'metrics-host': { type: 'string' },
  'metrics-token': { type: 'string' },
  'stall-timeout': { type: 'string' },
  'log-level': { type: 'string' },
  'log-format': { type: 'string' },
};

/** The flags' lines for `eddy --help`, aligned as the CLI's own. */
export const OPS_HELP: string = Object.entries(SCHEMA)
  .map(([name, s]) => `  ${`--${name} ${s.arg}`.trimEnd().padEnd(33)}${s.doc.join(`\n${' '.repeat(35)}`)}\n`)
  .join('');

/** Where the metrics server listens, and whom it answers. */
export interface MetricsServerOptions {
  readonly host: string;
  readonly port: number;
  /** Required on every request as `Authorization: Bearer <token>` when set. */
  readonly token: string | undefined;
}

export interface OpsOptions {
  /** Undefined: no server (no --metrics-port, no --ui). */
  readonly metrics: MetricsServerOptions | undefined;
  /** Whether the server also serves the dashboard (`--ui`). */
  readonly ui: boolean;
  /** A Kafka application's partition with input that has not moved for this long makes the instance unhealthy; 0 never. */
  readonly stallTimeoutMs: number;
  readonly logLevel: LogLevel;
  readonly logFormat: 'text' | 'json';
}

/** Whether `host` is this machine only: 127.0.0.0/8, ::1 or localhost. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h);
}

/** The checked operations options, or one line saying what is wrong and what to do. */
export function opsOptions(
  parsed: Readonly<Record<string, string | boolean | undefined>>,
  env: Readonly<Record<string, string | undefined>>,
): OpsOptions | string {
  const level = String(parsed['log-level'] ?? SCHEMA['log-level'].default);
  if (!Object.hasOwn(LOG_LEVELS, level))
    return `--log-level must be one of ${Object.keys(LOG_LEVELS).join(', ')}; received ${JSON.stringify(level)}`;
  const format = String(parsed['log-format'] ?? SCHEMA['log-format'].default);
  if (format !== 'text' && format !== 'json')
    return `--log-format must be text or json; received ${JSON.stringify(format)}`;
  const ui = parsed['ui'] === true;
  const rawStall = String(parsed['stall-timeout'] ?? SCHEMA['stall-timeout'].default).trim();
  const stall = Number(rawStall);
  if (!/^\d+(\.\d+)?$/.test(rawStall) || !Number.isFinite(stall))
    return `--stall-timeout must be a number of seconds, 0 or more (0 = never); received ${JSON.stringify(parsed['stall-timeout'])}; pass e.g. --stall-timeout 300`;
  const logs = { logLevel: level as LogLevel, logFormat: format, ui, stallTimeoutMs: stall * 1000 } as const;
  const rawPort = parsed['metrics-port'] ?? (ui ? '0' : undefined);
  if (rawPort === undefined) {
    const stray = (['metrics-host', 'metrics-token'] as const).find((f) => parsed[f] !== undefined);
    if (stray !== undefined)
      return `--${stray} configures the metrics server: add --metrics-port <port>, e.g. --metrics-port 9464`;
    return { metrics: undefined, ...logs };
  }
  const port = Number(rawPort);
  if (typeof rawPort !== 'string' || !/^\d{1,5}$/.test(rawPort.trim()) || port > 65535)
    return `--metrics-port must be a port number from 0 to 65535 (0 picks a free one); received ${JSON.stringify(rawPort)}; pass e.g. --metrics-port 9464`;
  const host = String(parsed['metrics-host'] ?? SCHEMA['metrics-host'].default).trim();
  if (host === '') return '--metrics-host must name an address; received ""; leave it out for 127.0.0.1';
  const flagToken = parsed['metrics-token'];
  if (flagToken !== undefined && String(flagToken).trim() === '')
    return '--metrics-token must not be empty; pass a long random secret, e.g. --metrics-token "$(openssl rand -hex 32)"';
  const envToken = env['EDDY_METRICS_TOKEN'];
  const token = flagToken !== undefined ? String(flagToken) : envToken === '' ? undefined : envToken;
  if (token === undefined && !isLoopback(host))
    return `--metrics-host ${host} would serve metrics and health beyond this machine without a token; set EDDY_METRICS_TOKEN=<secret> (or pass --metrics-token <secret>) and scrape with "Authorization: Bearer <secret>", or leave --metrics-host out to bind 127.0.0.1`;
  return { metrics: { host, port, token }, ...logs };
}
