/**
 * The Kafka benchmark's pure parts (bench/kafka-plan.ts): flags, the paced
 * schedule, and the exactly-once check of rolling counts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkCounts,
  dueCount,
  eventKey,
  expectedCounts,
  median,
  parseKafkaBenchArgs,
  scheduledMs,
  steadyRate,
} from '../../bench/kafka-plan.ts';

describe('kafka bench: flags', () => {
  it('defaults, --quick, KAFKA_BROKERS and explicit flags', () => {
    const d = parseKafkaBenchArgs([], {});
    assert.equal(d.events, 300_000);
    assert.equal(d.rounds, 3);
    assert.equal(d.commitIntervalMs, 100);
    assert.deepEqual(d.brokers, ['127.0.0.1:9092']);
    assert.equal(d.rate, undefined);
    assert.equal(d.warmupSecs, 4);
    assert.equal(d.prewarmSecs, 10);
    assert.equal(d.latencyTrace, undefined);
    const q = parseKafkaBenchArgs(['--quick'], { KAFKA_BROKERS: 'a:1,b:2' });
    assert.equal(q.events, 50_000);
    assert.equal(q.rounds, 1);
    assert.equal(q.latencySecs, 8);
    assert.deepEqual(q.brokers, ['a:1', 'b:2']);
    const x = parseKafkaBenchArgs(['--quick', '--events', '1000', '--rate', '500', '--brokers', 'h:9'], {
      KAFKA_BROKERS: 'a:1',
    });
    assert.equal(x.events, 1000);
    assert.equal(x.rate, 500);
    assert.deepEqual(x.brokers, ['h:9']);
    const cold = parseKafkaBenchArgs(['--prewarm-secs', '0', '--latency-trace', '/tmp/t'], {});
    assert.equal(cold.prewarmSecs, 0);
    assert.equal(cold.latencyTrace, '/tmp/t');
  });

  it('rejects bad values naming the flag', () => {
    assert.throws(() => parseKafkaBenchArgs(['--events', '1.5'], {}), /--events must be a positive whole/);
    assert.throws(() => parseKafkaBenchArgs(['--rate', '-1'], {}), /--rate/);
    assert.throws(() => parseKafkaBenchArgs(['--brokers', 'nohost'], {}), /host:port/);
    assert.throws(() => parseKafkaBenchArgs(['--warmup-secs', '30'], {}), /--warmup-secs/);
    assert.throws(() => parseKafkaBenchArgs(['--prewarm-secs', '-1'], {}), /--prewarm-secs/);
    assert.throws(() => parseKafkaBenchArgs(['--prewarm-secs', 'x'], {}), /--prewarm-secs/);
    assert.throws(() => parseKafkaBenchArgs(['--vs', 'flink'], {}), /--vs: unknown peer "flink"/);
    assert.deepEqual(parseKafkaBenchArgs(['--vs', 'kafka-streams'], {}).vs, ['kafka-streams']);
    assert.deepEqual(parseKafkaBenchArgs([], {}).vs, []);
  });
});

describe('kafka bench: the steady-state rate', () => {
  it('counts from the first sample past 10 % of the input to the first at its end', () => {
    const samples = [
      { t: 0, committed: 0 },
      { t: 3000, committed: 0 }, // startup and the group join: outside the window
      { t: 4000, committed: 50 },
      { t: 5000, committed: 150 }, // the window opens (≥ 100 of 1,000)
      { t: 6000, committed: 600 },
      { t: 7000, committed: 1000 }, // and closes
      { t: 9000, committed: 1000 },
    ];
    assert.equal(steadyRate(samples, 1000), 425);
    assert.equal(steadyRate(samples, 1000, 0.5), 400);
  });

  it('is undefined when the samples do not span the window', () => {
    assert.equal(steadyRate([], 10), undefined);
    assert.equal(steadyRate([{ t: 0, committed: 5 }], 10), undefined);
    assert.equal(steadyRate([{ t: 0, committed: 10 }], 10), undefined);
  });
});

describe('kafka bench: the paced schedule', () => {
  it('event i is due at i × 1000 / rate ms; none before the start, never more than the total', () => {
    assert.equal(dueCount(-1, 1000, 10), 0);
    assert.equal(dueCount(0, 1000, 10), 1);
    assert.equal(dueCount(0.999, 1000, 10), 1);
    assert.equal(dueCount(1, 1000, 10), 2);
    assert.equal(dueCount(1000, 5000, 100_000), 5001);
    assert.equal(dueCount(60_000, 5000, 100), 100);
    for (let i = 0; i < 50; i++) {
      const at = scheduledMs(i, 7);
      assert.ok(dueCount(at, 7, 1000) >= i + 1, `event ${i} due at its scheduled time`);
      assert.ok(dueCount(at - 1e-6, 7, 1000) <= i, `event ${i} not due before it`);
    }
  });
});

describe('kafka bench: exactly-once check of rolling counts', () => {
  const expected = expectedCounts(10, 3);

  it('keys spread evenly', () => {
    assert.deepEqual(
      [...expected.values()].sort((a, b) => a - b),
      [3, 3, 4],
    );
    assert.equal(eventKey(0, 3), 'k0');
  });

  it('exact output passes; lost, duplicated and impossible counts are told apart', () => {
    const exact = [...expected].flatMap(([key, c]) =>
      Array.from({ length: c }, (_, i) => ({ key, n: i + 1 })),
    );
    assert.deepEqual(checkCounts(expected, exact), { outputs: 10, lost: 0, duplicated: 0, invalid: 0 });
    const broken = [...exact.slice(1), exact[2]!, { key: 'k9', n: 1 }, { key: 'k0', n: 99 }];
    assert.deepEqual(checkCounts(expected, broken), { outputs: 12, lost: 1, duplicated: 1, invalid: 2 });
  });

  it('median', () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 3);
    assert.throws(() => median([]));
  });
});
