/**
 * RabbitMQ closing the pipeline's connections mid-stream (`rabbitmqctl
 * close_connection`, as a broker restart or a network cut does): a RabbitMQ
 * → RabbitMQ pipeline rides it out without a restart of the run (source and
 * sink reconnect with backoff; the broker sends the unacknowledged messages
 * again; the sink publishes its unconfirmed ones again), and every record
 * reaches the output (at-least-once; the duplicates are counted). Only this
 * test's connections are closed (their names hold a unique tag).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { rabbitmqSink, rabbitmqSource } from '../../../src/connectors/rabbitmq/index.ts';
import { Pipeline, type Sink } from '../../../src/index.ts';
import { gatedSink } from '../../helpers/gated-sink.ts';
import { waitUntil } from '../broker-service.ts';
import { closeConnections, haveRabbitmqctl, rabbitFixture, rabbitService, uniqueName } from './helpers.ts';

const service = await rabbitService();
const ctl = service.skip === false && (await haveRabbitmqctl());

interface Rec {
  readonly id: number;
  readonly v: number;
}

describe('RabbitMQ: connections closed by the broker', { skip: service.skip }, () => {
  it('source and sink connections closed mid-stream: the run goes on, every record in the output', {
    skip: !ctl && 'rabbitmqctl is not available to close a connection',
  }, async () => {
    const r = await rabbitFixture();
    const dir = mkdtempSync(join(tmpdir(), 'eddy-rabbit-outage-'));
    try {
      const input = uniqueName('in');
      const output = uniqueName('out');
      await r.queue(input);
      await r.queue(output);
      const n = 3000;
      await r.publish(
        input,
        Array.from({ length: n }, (_, i) => JSON.stringify({ id: i, v: i * 3 })),
        Array.from({ length: n }, (_, i) => `in-${i}`),
      );
      const tag = uniqueName('drop');

      // The sink stops after a third of the records until the connections are closed, then goes on.
      let closed = -1;
      const gate = (sink: Sink<Rec>): Sink<Rec> =>
        gatedSink(sink, async (written) => {
          if (closed < 0 && written >= n / 3) closed = await closeConnections(tag);
        });
      const source = rabbitmqSource<Rec>({ queue: input, prefetch: 200 });
      const sink = rabbitmqSink<Rec>({ queue: output, messageId: (x) => `out-${x.id}` });
      const p = new Pipeline({ name: 'rabbit-outage', batchSize: 50 });
      p.source(`${tag}-src`, source)
        .map((x): Rec => ({ id: x.id, v: x.v * 2 + 1 }), 'transform')
        .sink(gate(sink), `${tag}-sink`);
      const failures: string[] = [];
      const running = await p.start({
        parallelism: 1,
        checkpoints: { dir, intervalMs: 100 },
        restart: false,
      });
      running.done.catch((e: unknown) => failures.push(String(e)));

      await waitUntil('every input message is acknowledged', async () => {
        if (failures.length > 0) return true;
        const q = await r.count(input);
        return closed >= 0 && q.messages === 0 && source.stats().acked >= n;
      });
      assert.deepEqual(failures, [], `the run failed:\n${failures.join('\n')}`);
      running.stop();
      await running.done;

      assert.equal(closed, 2, 'the source and the sink connection were closed');
      const ids = (await r.drain(output)).map((s) => (JSON.parse(s) as Rec).id);
      const distinct = new Set(ids);
      assert.equal(
        distinct.size,
        n,
        `every record arrived (${ids.length} messages, ${distinct.size} distinct)`,
      );
      assert.ok(sink.stats().reconnects >= 1, JSON.stringify(sink.stats()));
      // With message ids the source hands nothing out twice: a duplicate can only be the sink's re-publishing.
      assert.ok(
        ids.length - n <= sink.stats().republished,
        `${ids.length - n} duplicates, ${sink.stats().republished} re-published; source ${JSON.stringify(source.stats())}`,
      );
      process.stdout.write(
        `# rabbitmq outage: ${n} records, connections closed after ${n / 3}; ${ids.length - n} duplicates; source ${JSON.stringify(source.stats())}; sink ${JSON.stringify(sink.stats())}\n`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await r.cleanup();
    }
  });
});
