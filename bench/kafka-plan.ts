/**
 * The pure parts of the Kafka benchmark (bench/kafka.ts), kept apart so that
 * they can be tested without a broker: its flags, the keys of the input
 * events, the schedule of the paced producer, and the check that an output
 * topic holds exactly one rolling count per input event.
 *
 * @example
 * ```ts
 * const o = parseKafkaBenchArgs(['--quick'], {});
 * dueCount(1000, 5000, 100_000); // 5001: events 0..5000 are due one second in
 * ```
 */
import { parseArgs } from 'node:util';

export interface KafkaBenchOptions {
  readonly brokers: string[];
  /** Events pre-filled into the input topic, read by each maximum-rate round. */
  readonly events: number;
  readonly keys: number;
  readonly partitions: number;
  /** kafkaApp's commit interval, both for the maximum rate and the latency run. */
  readonly commitIntervalMs: number;
  /** Alternating client / eddy rounds at the maximum rate. */
  readonly rounds: number;
  /** Offered rate of the latency run (events/s); undefined: `rateFraction` of eddy's measured maximum. */
  readonly rate: number | undefined;
  readonly rateFraction: number;
  readonly latencySecs: number;
  /** Outputs of events scheduled in this first part of the latency run are not recorded. */
  readonly warmupSecs: number;
  /**
   * Before the latency run's paced producer starts, each system works through a pre-filled backlog
   * of this many seconds' worth of events at the offered rate (0: it starts cold).
   */
  readonly prewarmSecs: number;
  /** Where the latency run writes every output's scheduled and arrival time (`<prefix>-<system>.csv`), if anywhere. */
  readonly latencyTrace: string | undefined;
  /** Where the child processes (client, eddy) write V8 CPU profiles (--cpu-prof), if anywhere. */
  readonly profileDir: string | undefined;
  readonly quick: boolean;
  /** Peers run in the same rounds (`kafka-streams`: the same pipeline with exactly-once v2). */
  readonly vs: readonly 'kafka-streams'[];
}

export const KAFKA_BENCH_USAGE = `npm run bench -- kafka [flags]
  --events N            events pre-filled into the input topic (default 300000; --quick 50000)
  --keys N              distinct keys (default 1000)
  --partitions N        partitions of every topic (default 4)
  --commit-interval MS  kafkaApp commitIntervalMs (default 100, Kafka Streams' exactly-once default)
  --rounds N            alternating client / eddy rounds at the maximum rate (default 3; --quick 1)
  --rate R              offered events/s of the latency run (default: --rate-fraction of eddy's maximum)
  --rate-fraction F     (default 0.5)
  --latency-secs S      length of the latency run (default 20; --quick 8)
  --warmup-secs S       first part of the latency run not recorded (default 20 % of it)
  --prewarm-secs S      before the latency run's paced producer starts, each system works through
                        S seconds' worth of events at the offered rate, pre-filled, and commits
                        them (default 10; 0: the paced run starts on a cold process)
  --latency-trace P     write each latency output's scheduled and arrival time to P-<system>.csv
  --profile DIR         run the client's and eddy's processes with node --cpu-prof into DIR
  --vs kafka-streams    also run the pipeline on Kafka Streams (exactly-once v2, same commit interval)
                        in the same rounds, and its latency run at the same offered rate
  --brokers LIST        host:port,… (default KAFKA_BROKERS, else 127.0.0.1:9092)
  --quick               small and short: a smoke run`;

function positive(name: string, raw: string, integer: boolean): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    throw new Error(`--${name} must be a positive ${integer ? 'whole ' : ''}number; got "${raw}"`);
  }
  return n;
}

/** Reads the flags (see {@link KAFKA_BENCH_USAGE}); throws with the flag's name on a bad value. */
export function parseKafkaBenchArgs(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): KafkaBenchOptions {
  const { values } = parseArgs({
    args: [...args],
    options: {
      events: { type: 'string' },
      keys: { type: 'string', default: '1000' },
      partitions: { type: 'string', default: '4' },
      'commit-interval': { type: 'string', default: '100' },
      rounds: { type: 'string' },
      rate: { type: 'string' },
      'rate-fraction': { type: 'string', default: '0.5' },
      'latency-secs': { type: 'string' },
      'warmup-secs': { type: 'string' },
      'prewarm-secs': { type: 'string', default: '10' },
      'latency-trace': { type: 'string' },
      profile: { type: 'string' },
      brokers: { type: 'string' },
      quick: { type: 'boolean', default: false },
      vs: { type: 'string' },
    },
  });
  const vs = (values.vs ?? '').split(',').filter((v) => v !== '');
  for (const v of vs)
    if (v !== 'kafka-streams')
      throw new Error(`--vs: unknown peer "${v}"; the Kafka bench has kafka-streams`);
  const quick = values.quick;
  const brokers = (values.brokers ?? env['KAFKA_BROKERS'] ?? '127.0.0.1:9092').split(',');
  if (brokers.some((b) => !/^[^\s:]+:\d+$/.test(b))) {
    throw new Error(`brokers must be host:port,…; got "${brokers.join(',')}"`);
  }
  const latencySecs = positive('latency-secs', values['latency-secs'] ?? (quick ? '8' : '20'), false);
  const warmupSecs = values['warmup-secs'] === undefined ? latencySecs * 0.2 : Number(values['warmup-secs']);
  if (!(warmupSecs >= 0 && warmupSecs < latencySecs)) {
    throw new Error(`--warmup-secs must be ≥ 0 and below --latency-secs (${latencySecs}); got ${warmupSecs}`);
  }
  const prewarmSecs = Number(values['prewarm-secs']);
  if (!(prewarmSecs >= 0 && prewarmSecs <= 600)) {
    throw new Error(`--prewarm-secs must be between 0 and 600; got "${values['prewarm-secs']}"`);
  }
  const rateFraction = positive('rate-fraction', values['rate-fraction'], false);
  return {
    brokers,
    events: positive('events', values.events ?? (quick ? '50000' : '300000'), true),
    keys: positive('keys', values.keys, true),
    partitions: positive('partitions', values.partitions, true),
    commitIntervalMs: positive('commit-interval', values['commit-interval'], true),
    rounds: positive('rounds', values.rounds ?? (quick ? '1' : '3'), true),
    rate: values.rate === undefined ? undefined : positive('rate', values.rate, false),
    rateFraction,
    latencySecs,
    warmupSecs,
    prewarmSecs,
    latencyTrace: values['latency-trace'],
    profileDir: values.profile,
    quick,
    vs: vs as 'kafka-streams'[],
  };
}

/** The key of input event `i`: spread over `keys` keys, every key as often as the others (±1). */
export function eventKey(i: number, keys: number): string {
  return `k${(i * 7919) % keys}`;
}

/** How many events of each key the first `events` events hold. */
export function expectedCounts(events: number, keys: number): Map<string, number> {
  const out = new Map<string, number>();
  for (let i = 0; i < events; i++) {
    const k = eventKey(i, keys);
    out.set(k, (out.get(k) ?? 0) + 1);
  }
  return out;
}

/**
 * How many of `total` events paced at `rate` per second are due `elapsedMs`
 * after the start: event i is due at i × 1000 / rate ms, so event 0 at once.
 */
export function dueCount(elapsedMs: number, rate: number, total: number): number {
  if (elapsedMs < 0) return 0;
  // The epsilon keeps event i due at exactly scheduledMs(i), which rounding can put a hair before.
  return Math.min(total, Math.floor((elapsedMs * rate) / 1000 + 1e-9) + 1);
}

/** When event i is due, in ms after the start. */
export function scheduledMs(i: number, rate: number): number {
  return (i * 1000) / rate;
}

/** What an output topic of rolling counts holds against what it should. */
export interface CountCheck {
  readonly outputs: number;
  /** Counts 1..expected that no output carries. */
  readonly lost: number;
  /** Outputs beyond one per count. */
  readonly duplicated: number;
  /** Outputs with a key or a count that cannot be. */
  readonly invalid: number;
}

/**
 * Checks rolling counts: for every key with c input events, the outputs must
 * carry exactly the counts 1, 2, …, c, each once (exactly-once output).
 */
export function checkCounts(
  expected: ReadonlyMap<string, number>,
  outputs: Iterable<{ readonly key: string; readonly n: number }>,
): CountCheck {
  const seen = new Map<string, Uint8Array>();
  let total = 0;
  let duplicated = 0;
  let invalid = 0;
  for (const { key, n } of outputs) {
    total++;
    const want = expected.get(key);
    if (want === undefined || !Number.isInteger(n) || n < 1 || n > want) {
      invalid++;
      continue;
    }
    let marks = seen.get(key);
    if (marks === undefined) seen.set(key, (marks = new Uint8Array(want + 1)));
    if (marks[n] === 1) duplicated++;
    else marks[n] = 1;
  }
  let lost = 0;
  for (const [key, want] of expected) {
    const marks = seen.get(key);
    for (let n = 1; n <= want; n++) if (marks?.[n] !== 1) lost++;
  }
  return { outputs: total, lost, duplicated, invalid };
}

/** The middle value (the upper one of an even count). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new Error('median of nothing');
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
}

/** The group's committed offsets (summed over the input's partitions) when sampled. */
export interface CommitSample {
  readonly t: number;
  readonly committed: number;
}

/**
 * The steady-state rate of a round, from the committed offsets sampled by
 * the harness (the same rule for every system): events committed between
 * the first sample at or past `fromFraction` of the input and the first
 * sample at its end, over the time between them. Startup, the group join
 * and a JVM's warm-up fall before the window. Undefined when the samples do
 * not span it.
 *
 * @example
 * ```ts
 * steadyRate([{ t: 0, committed: 0 }, { t: 1000, committed: 100 }, { t: 2000, committed: 1100 }], 1100);
 * // 1000 events/s: from 100 at 1 s to 1,100 at 2 s
 * ```
 */
export function steadyRate(
  samples: readonly CommitSample[],
  events: number,
  fromFraction = 0.1,
): number | undefined {
  const from = samples.find((x) => x.committed >= events * fromFraction);
  const to = samples.find((x) => x.committed >= events);
  if (from === undefined || to === undefined || to.t <= from.t) return undefined;
  return ((to.committed - from.committed) * 1000) / (to.t - from.t);
}
