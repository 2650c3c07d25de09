/**
 * eddy's own log lines of a run (issue 17): restarts, failures, resumes, the
 * metrics address. As text (the default) a line is written to stderr exactly
 * as the CLI always wrote it; with `--log-format json` it is one pino object
 * per line carrying the pipeline's name and the run's id (and the fields
 * given, such as the step or the restart number), for a log collector.
 * `--log-level` drops the less severe lines in either format. pino is loaded
 * only for JSON.
 *
 * @example
 * ```ts
 * const log = await runLog({ level: 'info', format: 'json', pipeline: 'iot', runId: 'f3a1' });
 * log.warn('eddy: the run failed: ...; restart 1 from the newest checkpoint in 0.1 s', { restart: 1 });
 * // {"level":40,"time":"…","pipeline":"iot","runId":"f3a1","restart":1,"msg":"the run failed: …"}
 * ```
 */
import { LOG_LEVELS, type LogLevel } from './options.ts';

export interface RunLog {
  readonly json: boolean;
  info(line: string, fields?: Record<string, unknown>): void;
  warn(line: string, fields?: Record<string, unknown>): void;
  error(line: string, fields?: Record<string, unknown>): void;
  /** Writes what is buffered (the JSON destination is synchronous: nothing is). */
  flush(): void;
}

export interface RunLogOptions {
  readonly level: LogLevel;
  readonly format: 'text' | 'json';
  readonly pipeline: string;
  readonly runId: string;
  /** Where text lines go; default stderr. */
  readonly text?: (line: string) => void;
  /** Where JSON lines go (a file descriptor); default 2 (stderr). */
  readonly fd?: number;
}

export async function runLog(o: RunLogOptions): Promise<RunLog> {
  if (o.format === 'text') {
    const write = o.text ?? ((line: string) => void process.stderr.write(`${line}\n`));
    const at = (level: LogLevel) => (line: string) => {
      if (LOG_LEVELS[level] >= LOG_LEVELS[o.level]) write(line);
    };
    return { json: false, info: at('info'), warn: at('warn'), error: at('error'), flush: () => {} };
  }
  const { pino } = await import('pino');
  // Synchronous: the CLI exits with process.exit, which must not lose the last lines.
  const logger = pino(
    {
      level: o.level,
      base: { pid: process.pid, pipeline: o.pipeline, runId: o.runId },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    pino.destination({ dest: o.fd ?? 2, sync: true }),
  );
  const msg = (line: string) => line.replace(/^\s*eddy: /, '');
  return {
    json: true,
    info: (line, fields = {}) => logger.info(fields, msg(line)),
    warn: (line, fields = {}) => logger.warn(fields, msg(line)),
    error: (line, fields = {}) => logger.error(fields, msg(line)),
    flush: () => logger.flush(),
  };
}
