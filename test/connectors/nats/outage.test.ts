/**
 * A NATS server killed (SIGKILL) mid-stream and started again on the same
 * port and store: the JetStream → JetStream pipeline rides it out without a
 * restart of the run (the client reconnects every second and buffers), loses
 * nothing and doubles nothing in the output (message ids within the
 * stream's duplicate window). The server is the test's own (`nats-server
 * -js` on a free port, its store in a temporary directory), never the shared one.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pauseAfter } from '../../helpers/gated-sink.ts';
import { natsServer, outage } from '../../helpers/server-process.ts';
import { waitUntil } from '../broker-service.ts';
import { crashPipeline, type In } from './fixtures/pipeline.ts';
import { natsFixture, natsService } from './helpers.ts';

const service = await natsService(); // the binary comes with the shared server's package

describe('NATS JetStream: a server restart', { skip: service.skip }, () => {
  it('the server SIGKILLed mid-stream and restarted 1.5 s later: the run goes on, every record once in the output', async () => {
    const server = await natsServer();
    const servers = `127.0.0.1:${server.port}`;
    const nats = await natsFixture(`nats://${servers}`);
    const dir = mkdtempSync(join(tmpdir(), 'eddy-nats-outage-'));
    try {
      await nats.stream('IN');
      await nats.stream('OUT');
      const n = 3000;
      const records: In[] = Array.from({ length: n }, (_, i) => ({ id: i, v: i * 3 }));
      await nats.publish(
        'IN',
        records.map((r) => JSON.stringify(r)),
      );

      // The sink stops after a third of the records until the server is down, then writes into the outage.
      const pause = pauseAfter(n / 3);
      const { pipeline, source, sink } = crashPipeline({
        input: 'IN',
        consumer: 'c',
        output: 'OUT',
        servers,
        wrapSink: pause.gate as never,
      });
      const failures: string[] = [];
      const running = await pipeline.start({
        parallelism: 1,
        checkpoints: { dir, intervalMs: 100 },
        restart: false,
      });
      running.done.catch((e: unknown) => failures.push(String(e)));

      const atKill = await outage(server, pause);

      await waitUntil('every input message is acknowledged', async () => {
        if (failures.length > 0) return true;
        const s = await nats.consumerState('IN', 'c');
        return s.pending === 0 && s.ackPending === 0;
      });
      assert.deepEqual(
        failures,
        [],
        `the run failed in the outage:\n${failures.join('\n')}\n${server.log()}`,
      );
      running.stop();
      await running.done;

      const got = (await nats.readAll('OUT')).map((s) => JSON.parse(s) as { id: number; v2: number });
      const stats = `source ${JSON.stringify(source.stats())}; sink ${JSON.stringify(sink.stats())}`;
      assert.equal(got.length, n, `${got.length} messages in the output for ${n} inputs; ${stats}`);
      assert.deepEqual(
        [...got].sort((a, b) => a.id - b.id),
        records.map((r) => ({ id: r.id, v2: r.v * 2 + 1 })),
      );
      process.stdout.write(
        `# nats outage: ${n} records, the server down 1.5 s after ${atKill} were written; ${stats}\n`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await nats.cleanup().catch(() => {});
      await server.close();
    }
  });
});
