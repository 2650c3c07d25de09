#!/usr/bin/env node
// The eddy command. From a source checkout it runs the TypeScript directly
// (Node >= 22.18 strips types); a published package runs the built dist/.
import { existsSync } from 'node:fs';

const dist = new URL('../dist/cli/main.js', import.meta.url);
const { main } = await import(
  existsSync(dist) ? dist.href : new URL('../src/cli/main.ts', import.meta.url).href
);
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    process.stderr.write(`eddy: ${e?.code?.startsWith?.('EDDY_') ? e.message : (e?.stack ?? String(e))}\n`);
    process.exitCode = 1;
  },
);
