/**
 * `eddy kafka reset --app-id <id> [--brokers <host:port,...>] [--dry-run]`:
 * deletes a Kafka application's internal topics (changelog, repartition) and
 * its consumer group with the committed offsets, so its next start reads the
 * input from the beginning with empty state (Kafka Streams' application reset
 * tool). `--dry-run` prints what would go and deletes nothing. Refused while
 * an instance still runs.
 */
import { parseArgs } from 'node:util';
import { brokersOf } from '../connectors/kafka/brokers.ts';
import { resetKafkaApp } from '../connectors/kafka/reset.ts';

const USAGE = `Usage:
  eddy kafka reset --app-id <id> [--brokers <host:port,...>] [--dry-run]

Deletes the Kafka application's internal topics (<id>-changelog, <id>-repartition)
and its consumer group with the committed offsets: the next start reads the input
from the beginning with empty state. Input and output topics are left alone.
Stop every instance first. --brokers defaults to KAFKA_BROKERS, else 127.0.0.1:9092.
`;

/** Runs `eddy kafka <args>`; resolves with the exit code. */
export async function kafkaCommand(args: readonly string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '--help' || sub === '-h') {
    process.stdout.write(USAGE);
    return sub === undefined ? 2 : 0;
  }
  if (sub !== 'reset') {
    process.stderr.write(
      `eddy kafka: unknown command "${sub}"; the command is "eddy kafka reset" (see "eddy kafka --help")\n`,
    );
    return 2;
  }
  let o: { 'app-id'?: string; brokers?: string; 'dry-run'?: boolean; help?: boolean };
  try {
    o = parseArgs({
      args: [...rest],
      options: {
        'app-id': { type: 'string' },
        brokers: { type: 'string' },
        'dry-run': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (e) {
    process.stderr.write(
      `eddy kafka reset: ${(e as Error).message.split('\n')[0]}; see "eddy kafka --help"\n`,
    );
    return 2;
  }
  if (o.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const id = o['app-id'];
  if (id === undefined || !/^[A-Za-z0-9._-]{1,200}$/.test(id)) {
    process.stderr.write(
      `eddy kafka reset: --app-id <id> names the application to reset (letters, digits, . _ -); received ${id === undefined ? 'none' : JSON.stringify(id)}\n`,
    );
    return 2;
  }
  let brokers: string[];
  try {
    brokers = brokersOf(o.brokers === undefined ? undefined : o.brokers.split(',').map((b) => b.trim()));
  } catch (e) {
    process.stderr.write(`eddy kafka reset: ${(e as Error).message}\n`);
    return 2;
  }
  const dry = o['dry-run'] === true;
  const plan = await resetKafkaApp({ brokers, applicationId: id, dryRun: dry });
  const offsets = Object.entries(plan.group.offsets);
  const verb = dry ? 'would delete' : 'deleted';
  const lines = [
    `eddy kafka reset: ${id} on ${brokers.join(',')}${dry ? ' (dry run: nothing deleted)' : ''}`,
    `  internal topics ${verb}: ${plan.topics.length === 0 ? 'none (there were none)' : plan.topics.join(', ')}`,
    `  consumer group ${verb}: ${plan.group.exists ? `${id} (${plan.group.state}), with ${offsets.length} committed offsets${offsets.length === 0 ? '' : `: ${offsets.map(([p, at]) => `${p}@${at}`).join(', ')}`}` : 'none (there was none)'}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}
