/**
 * Crash tests of connectors: a pipeline in a child process kills itself with
 * SIGKILL (no final checkpoint, no clean close) once `afterCheckpoints`
 * checkpoints have completed and `records` more have been written after the
 * last one; the test then resumes it from the newest checkpoint and checks
 * what reached the destination.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import type { Sink } from '../../src/index.ts';
import type { CheckpointInfo } from '../../src/runtime/checkpoints.ts';

/** The sink and checkpoint hook of a run that kills itself mid-stream (use both). */
export function killingRun<S extends Sink<never>>(
  o: { afterCheckpoints?: number; records?: number } = {},
): {
  wrap: (sink: S) => S;
  onCheckpoint: (info: CheckpointInfo) => void;
} {
  const after = o.afterCheckpoints ?? 2;
  const records = o.records ?? 50;
  let completed = 0;
  let since = 0;
  return {
    wrap: (sink) => ({
      ...sink,
      async open(ctx) {
        const writer = await sink.open(ctx);
        return {
          ...writer,
          async write(values, times) {
            await writer.write(values, times);
            since += values.length;
            if (completed >= after && since >= records) {
              process.stdout.write(`killing after checkpoint ${completed}\n`);
              process.kill(process.pid, 'SIGKILL');
            }
          },
        };
      },
    }),
    onCheckpoint: (info) => {
      if (info.error !== undefined) return;
      completed = info.id;
      since = 0;
    },
  };
}

/** Runs a crash child to its end (bounded by `timeoutMs`); resolves with its output and how it exited. */
export function runChild(script: string, args: readonly string[], timeoutMs = 180_000): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const cp = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    cp.stdout.on('data', (d) => (out += String(d)));
    cp.stderr.on('data', (d) => (out += String(d)));
    const timer = setTimeout(() => cp.kill('SIGKILL'), timeoutMs);
    cp.on('error', reject);
    cp.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(`${out}\nexit ${code} ${signal}`);
    });
  });
}

/** The `id` of every record in a JSON Lines output file, in file order (none while it does not exist). */
export function idsInFile(path: string): number[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => (JSON.parse(l) as { id: number }).id);
}
