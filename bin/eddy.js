#!/usr/bin/env node
// The eddy command. From a source checkout it runs the TypeScript directly
// (Node >= 22.18 strips types); a published package runs the built dist/.
import { existsSync } from 'node:fs';

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
