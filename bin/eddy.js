#!/usr/bin/env node
// The eddy command. From a source checkout it runs the TypeScript directly
// (Node >= 22.18 strips types); a published package runs the built dist/.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// Bounded young generation (issue 15, memory): under eddy's allocation rate V8
// grows its semi-spaces towards their maximum, and peak RSS at 50M events was
// 1.26-1.77x that at 10M with the live heap flat. 16 MB semi-spaces keep it
// within 1.05x and cut Nexmark q5's peak RSS by a third for ~1 % of its speed
// (8 MB: 4 %); BENCHMARKS.md, "Which part of the heap grows". The flag only
// works at start-up, so eddy starts again with it, in the same process
// (execve: same pid, signals and exit code), unless the user set one
// (NODE_OPTIONS or a node flag) or EDDY_SEMI_SPACE_MB=0 turns it off.
const SEMI_SPACE = '--max-semi-space-size';
const semiSpaceMb = process.env.EDDY_SEMI_SPACE_MB ?? '16';
if (!/^\d+$/.test(semiSpaceMb)) {
  process.stderr.write(
    `eddy: EDDY_SEMI_SPACE_MB must be a whole number of megabytes (0: leave V8's default); received "${semiSpaceMb}"\n`,
  );
  process.exit(2);
}
if (
  semiSpaceMb !== '0' &&
  typeof process.execve === 'function' &&
  !process.execArgv.some((a) => a.startsWith(SEMI_SPACE)) &&
  !(process.env.NODE_OPTIONS ?? '').includes(SEMI_SPACE)
) {
  try {
    process.execve(process.execPath, [
      process.execPath,
      `${SEMI_SPACE}=${semiSpaceMb}`,
      ...process.execArgv,
      fileURLToPath(import.meta.url),
      ...process.argv.slice(2),
    ]);
  } catch (e) {
    // Only a smaller footprint is lost: run on with V8's default.
    process.stderr.write(
      `eddy: could not start Node with ${SEMI_SPACE}=${semiSpaceMb} (${e instanceof Error ? e.message : String(e)}); running with V8's default (set EDDY_SEMI_SPACE_MB=0 to skip this)\n`,
    );
  }
}

// A SIGTERM while eddy loads is kept for the run, which then stops with a
// savepoint, instead of killing the process (issue 19). The listener stays:
// removing it before eddy's own is installed would leave a moment without one.
let terminated = false;
process.on('SIGTERM', () => {
  terminated = true;
});
const dist = new URL('../dist/cli/main.js', import.meta.url);
const { cli } = await import(
  existsSync(dist) ? dist.href : new URL('../src/cli/main.ts', import.meta.url).href
);
await cli(process.argv.slice(2), { terminatedEarly: () => terminated });
