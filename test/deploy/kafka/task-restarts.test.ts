/**
 * When a Kafka application's failed partition task may start again
 * (src/deploy/kafka/task-restarts.ts): failures that repeat back off and
 * reach the failure limit; the brokers being away is waited out for
 * reconnectTimeoutMs without using the limit. Times are passed in, so
 * nothing here depends on the clock. The whole on the broker:
 * test/kafka/poison.test.ts, test/kafka/broker-restart.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PartitionTask } from '../../../src/deploy/kafka/task.ts';
import { TaskRestarts } from '../../../src/deploy/kafka/task-restarts.ts';

/** The fields of a task the restarts read. */
function failed(split: string, error: unknown, commits = 0): PartitionTask {
  return { split, error, failure: 'it failed', commits } as unknown as PartitionTask;
}

const refused = new Error('the sink refused a record');
const away = (): Error => Object.assign(new Error('connect ECONNREFUSED'), { code: 'PLT_KFK_NETWORK' });

describe('TaskRestarts', () => {
  it('backs off a repeating failure and gives up past the failure limit, naming the partition and the last error', () => {
    const r = new TaskRestarts({
      restart: { initialBackoffMs: 100, maxBackoffMs: 1000, jitter: 0, maxFailures: 3, intervalMs: 60_000 },
      reconnectTimeoutMs: 30_000,
      brokers: ['127.0.0.1:9092'],
    });
    const delays: number[] = [];
    let now = 1_000;
    for (let i = 0; i < 3; i++) {
      const d = r.onFailure(failed('in:0', refused), now);
      assert.equal(typeof d, 'number', `failure ${i + 1} is within the limit`);
      delays.push(d as number);
      assert.equal(r.due('in:0', now), false, 'not due before its delay');
      assert.equal(r.nextDue(now, 5000), (d as number) + 1);
      now += d as number;
      assert.equal(r.due('in:0', now), true, 'due once its delay is over');
    }
    assert.deepEqual(delays, [100, 200, 400]);
    const last = r.onFailure(failed('in:0', refused), now);
    assert.ok(last instanceof Error);
    assert.match(last.message, /partition task in:0/);
    assert.match(last.message, /the sink refused a record/);
    assert.equal(r.due('in:1', now), true, 'other partitions are not held back');
  });

  it('waits the brokers out for reconnectTimeoutMs without using the failure limit', () => {
    const r = new TaskRestarts({
      restart: { maxFailures: 1, intervalMs: 60_000 },
      reconnectTimeoutMs: 10_000,
      brokers: ['127.0.0.1:9092'],
    });
    let now = 0;
    for (let i = 0; i < 6; i++) {
      const d = r.onFailure(failed('in:0', away()), now);
      assert.equal(typeof d, 'number', `transient failure ${i + 1} is waited out`);
      assert.ok((d as number) <= 2200, 'retried within about 2 s (10 % jitter) of the brokers');
      now += 1_500;
    }
    const gave = r.onFailure(failed('in:0', away()), 10_001);
    assert.ok(gave instanceof Error);
    assert.match(gave.message, /could not reach the brokers 127\.0\.0\.1:9092 for 10001 ms/);
    assert.match(gave.message, /reconnectTimeoutMs 10000/);
  });

  it('a task that committed since starts the outage clock again', () => {
    const r = new TaskRestarts({ restart: undefined, reconnectTimeoutMs: 10_000, brokers: ['b:9092'] });
    assert.equal(typeof r.onFailure(failed('in:0', away()), 0), 'number');
    // It ran and committed in between: this outage began now.
    assert.equal(typeof r.onFailure(failed('in:0', away(), 3), 9_000), 'number');
    assert.equal(typeof r.onFailure(failed('in:0', away()), 18_000), 'number');
    assert.ok(r.onFailure(failed('in:0', away()), 19_001) instanceof Error);
  });

  it('a failure that is not the brokers ends the outage clock and counts against the limit', () => {
    const r = new TaskRestarts({
      restart: { maxFailures: 1, intervalMs: 60_000 },
      reconnectTimeoutMs: 10_000,
      brokers: ['b:9092'],
    });
    assert.equal(typeof r.onFailure(failed('in:0', away()), 0), 'number');
    assert.equal(typeof r.onFailure(failed('in:0', refused), 100), 'number');
    assert.ok(
      r.onFailure(failed('in:0', refused), 200) instanceof Error,
      'the second repeating failure is past the limit',
    );
  });
});
