/**
 * The `eddy` command as the tests run it: a child process of this Node.js,
 * its exit code (null when a signal ended it), stdout and stderr.
 */
import { execFile } from 'node:child_process';

export const EDDY_BIN = new URL('../../bin/eddy.js', import.meta.url).pathname;

export interface EddyExit {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `eddy <args>` to its end (killed after `timeoutMs`, default 60 s). */
export function eddy(
  args: readonly string[],
  o: { readonly env?: NodeJS.ProcessEnv; readonly timeoutMs?: number } = {},
): Promise<EddyExit> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [EDDY_BIN, ...args],
      { timeout: o.timeoutMs ?? 60_000, env: o.env ?? process.env },
      (error, stdout, stderr) => {
        const code = (error as { code?: unknown } | null)?.code;
        resolve({ code: error === null ? 0 : typeof code === 'number' ? code : null, stdout, stderr });
      },
    );
  });
}
