/**
 * `eddy kafka reset --app-id <id> [--brokers <host:port,...>] [--dry-run]`:
 * deletes a Kafka application's internal topics (changelog, repartition) and
 * its consumer group with the committed offsets, so its next start reads the
 * input from the beginning with empty state (Kafka Streams' application reset
 * tool). `--dry-run` prints what would go and deletes nothing. Refused while
 * an instance still runs.
 */
import { parseArgs } from 'node:util';
import { Admin } from '@platformatic/kafka';
import { brokersOf } from '../connectors/kafka/brokers.ts';
import { resetKafkaApp } from '../connectors/kafka/reset.ts';
import { planStages, stageNames } from '../deploy/kafka/stages.ts';
import { loadModule } from './load.ts';

const USAGE = `Usage:
  eddy kafka reset --app-id <id> [--brokers <host:port,...>] [--dry-run] [<module.ts>]

Deletes the Kafka application's internal topics (<id>-changelog, <id>-repartition)
and its consumer group with the committed offsets: the next start reads the input
from the beginning with empty state. Input and output topics are left alone.
With the pipeline module (built with its options' defaults), the application's
later keyed stages go too: each stage's application (<id>-<keyBy>) and the topic
that feeds it (<id>-<keyBy>-stage).
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
  let positionals: string[];
  try {
    const parsed = parseArgs({
      args: [...rest],
      options: {
        'app-id': { type: 'string' },
        brokers: { type: 'string' },
        'dry-run': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: true,
    });
    positionals = parsed.positionals;
    o = parsed.values;
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
  if (positionals.length > 1) {
    process.stderr.write(
      `eddy kafka reset: one pipeline module at most; received ${positionals.join(', ')}\n`,
    );
    return 2;
  }
  // The application's stages: the first (the id itself), then each later one the module's keyBys start.
  const apps: { applicationId: string; alsoTopics: string[] }[] = [{ applicationId: id, alsoTopics: [] }];
  if (positionals[0] !== undefined) {
    const mod = await loadModule(positionals[0], 'eddy kafka reset');
    if (typeof mod === 'string') {
      process.stderr.write(`${mod}\n`);
      return 2;
    }
    const defaults: Record<string, unknown> = {};
    for (const [name, spec] of Object.entries(mod.options ?? {})) defaults[name] = spec.default;
    for (const st of planStages(await mod.build(defaults as never)).slice(1)) {
      const names = stageNames(id, st.keyBy);
      apps.push({ applicationId: names.applicationId, alsoTopics: [names.topic] });
    }
  }
  // Every stage checked first (none may still run), then reset.
  for (const a of apps) await resetKafkaApp({ brokers, ...a, dryRun: true });
  const lines = [
    `eddy kafka reset: ${id} on ${brokers.join(',')}${dry ? ' (dry run: nothing deleted)' : ''}`,
  ];
  const verb = dry ? 'would delete' : 'deleted';
  for (const a of apps) {
    const plan = await resetKafkaApp({ brokers, ...a, dryRun: dry });
    const offsets = Object.entries(plan.group.offsets);
    if (a.applicationId !== id) lines.push(`  stage ${a.applicationId}:`);
    lines.push(
      `  internal topics ${verb}: ${plan.topics.length === 0 ? 'none (there were none)' : plan.topics.join(', ')}`,
      `  consumer group ${verb}: ${plan.group.exists ? `${a.applicationId} (${plan.group.state}), with ${offsets.length} committed offsets${offsets.length === 0 ? '' : `: ${offsets.map(([p, at]) => `${p}@${at}`).join(', ')}`}` : 'none (there was none)'}`,
    );
  }
  if (positionals[0] === undefined) {
    const stagesFound = await stageTopicsOf(brokers, id);
    if (stagesFound.length > 0)
      lines.push(
        `  not touched: ${stagesFound.join(', ')}, which look like later stages' topics of ${id}; pass the pipeline module (eddy kafka reset --app-id ${id} <module.ts>) to reset its stages too`,
      );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

/** Topics named like the stage topics of application `id` (`<id>-<step>-stage`). */
async function stageTopicsOf(brokers: readonly string[], id: string): Promise<string[]> {
  const admin = new Admin({ clientId: `eddy-reset-${id}`, bootstrapBrokers: [...brokers] });
  try {
    return (await admin.listTopics()).filter((t) => t.startsWith(`${id}-`) && t.endsWith('-stage')).sort();
  } finally {
    await admin.close().catch(() => {});
  }
}
