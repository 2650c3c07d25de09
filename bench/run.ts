/**
 * `npm run bench -- <name> [flags]`: runs one benchmark. Each prints progress
 * to stderr and ends with one JSON line on stdout.
 */
const benches: Record<string, () => Promise<{ main(args: string[]): Promise<void> }>> = {
  core: () => import('./core.ts'),
  checkpoint: () => import('./checkpoint.ts'),
  parallel: () => import('./parallel.ts'),
  nexmark: () => import('./nexmark/harness/main.ts'),
  'nexmark-fair': () => import('./nexmark/harness/fair.ts'),
  'nexmark-chart': () => import('./nexmark/harness/chart.ts'),
  'nexmark-table': () => import('./nexmark/harness/table.ts'),
  'state-store': () => import('./state-store.ts'),
  kafka: () => import('./kafka.ts'),
  'kafka-standby': () => import('./kafka-standby.ts'),
  'kafka-changelog': () => import('./kafka-changelog.ts'),
  'kafka-move': () => import('./kafka-move.ts'),
  skew: () => import('./skew.ts'),
  burst: () => import('./burst.ts'),
  connectors: () => import('./connectors.ts'),
  decode: () => import('./decode.ts'),
  'file-sink': () => import('./file-sink.ts'),
  'skew-kafka': () => import('./skew-kafka.ts'),
  'skew-kafka-combine': () => import('./skew-kafka-combine.ts'),
  'decode-kafka': () => import('./decode-kafka.ts'),
  union: () => import('./union.ts'),
};

const [name, ...args] = process.argv.slice(2);
const load = name === undefined ? undefined : benches[name];
if (load === undefined) {
  process.stderr.write(`usage: npm run bench -- <${Object.keys(benches).join('|')}> [flags]\n`);
  process.exit(2);
}
await (await load()).main(args);
