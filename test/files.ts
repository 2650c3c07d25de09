/**
 * The test files of `npm test`'s two passes, printed one per line for
 * `node --test`: `node test/files.ts 1` lists every file; `node test/files.ts 2`
 * leaves out the files that EDDY_PARALLELISM cannot change.
 *
 * The second pass runs the suite again with EDDY_PARALLELISM=2, the default
 * parallelism of every pipeline that does not set its own. A Kafka
 * application's partition tasks always run at parallelism 1 (one job per
 * partition: deploy/kafka/task-start.ts), so a file that runs pipelines only
 * inside `kafkaApp` runs the same code twice; those files take ~5 minutes of
 * the two test lanes, which kept CI near its 25-minute limit. A file is left
 * out only if every pipeline it starts (its fixtures' too) is a kafkaApp's.
 */
import { existsSync, globSync } from 'node:fs';

const SAME_AT_ANY_PARALLELISM: readonly string[] = [
  'test/kafka/eos.test.ts', // fixtures/eos-app.ts: kafkaApp processes only
  'test/kafka/load-balance.test.ts', // kafkaApp only
  'test/kafka/savepoint.test.ts', // fixtures/window-app.ts: kafkaApp processes only
  'test/kafka/standby.test.ts', // kafkaApp only
  'test/deploy/kafka/task.test.ts', // a PartitionTask alone, no pipeline
];

const pass = process.argv[2];
if (pass !== '1' && pass !== '2') {
  process.stderr.write(`usage: node test/files.ts 1|2 (the pass of npm test); received "${pass ?? ''}"\n`);
  process.exit(2);
}
for (const f of SAME_AT_ANY_PARALLELISM)
  if (!existsSync(f)) {
    process.stderr.write(`test/files.ts: ${f} is listed but missing; update SAME_AT_ANY_PARALLELISM\n`);
    process.exit(2);
  }
const left = new Set(pass === '2' ? SAME_AT_ANY_PARALLELISM : []);
const files = globSync('test/**/*.test.ts')
  .map((f) => f.split('\\').join('/'))
  .filter((f) => !left.has(f))
  .sort();
process.stdout.write(`${files.join('\n')}\n`);
