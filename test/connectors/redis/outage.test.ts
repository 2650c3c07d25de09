/**
 * A Redis server killed (SIGKILL) mid-stream and started again on the same
 * port and data: the Redis Streams → Redis Streams pipeline rides it out
 * without a restart of the run (its clients reconnect with backoff and
 * queue their commands), loses nothing and doubles nothing (explicit sink
 * ids). The server is the test's own (`redis-server` on a free port, an
 * append-only file written before each reply), never the shared one.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pauseAfter } from '../../helpers/gated-sink.ts';
import { outage, redisServer } from '../../helpers/server-process.ts';
import { waitUntil } from '../broker-service.ts';
import { crashPipeline, type In } from './fixtures/pipeline.ts';
import { redisFixture, redisService } from './helpers.ts';

const service = await redisService(); // the binary comes with the shared server's package

describe('Redis Streams: a server restart', { skip: service.skip }, () => {
  it('the server SIGKILLed mid-stream and restarted 1.5 s later: the run goes on, every record once in the output', async () => {
    const server = await redisServer();
    const url = `redis://127.0.0.1:${server.port}`;
    const r = await redisFixture(url);
    const dir = mkdtempSync(join(tmpdir(), 'eddy-redis-outage-'));
    try {
      const n = 3000;
      const records: In[] = Array.from({ length: n }, (_, i) => ({ id: i, v: i * 3 }));
      await r.add(
        'in',
        records.map((x) => JSON.stringify(x)),
      );

      // The sink stops after a third of the records until the server is down, then writes into the outage.
      const pause = pauseAfter(n / 3);
      const { pipeline, source, sink } = crashPipeline({
        input: 'in',
        group: 'g',
        output: 'out',
        url,
        claimMinIdleMs: 3000,
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

      await waitUntil('every input entry is read and acknowledged', async () => {
        if (failures.length > 0) return true;
        const [last] = (await r.redis.xrevrange('in', '+', '-', 'COUNT', 1))[0]!;
        const info = (await r.redis.xinfo('GROUPS', 'in')) as unknown[][];
        const g = info[0]!;
        return String(g[g.indexOf('last-delivered-id') + 1]) === last && (await r.pending('in', 'g')) === 0;
      });
      assert.deepEqual(
        failures,
        [],
        `the run failed in the outage:\n${failures.join('\n')}\n${server.log()}`,
      );
      running.stop();
      await running.done;

      const got = (await r.readAll('out')).map((e) => ({
        entry: e.id,
        ...(JSON.parse(e.data) as { id: number; v2: number }),
      }));
      assert.equal(got.length, n, `${got.length} entries in the output for ${n} inputs`);
      assert.deepEqual(
        got,
        records.map((x) => ({ entry: `${x.id + 1}-0`, id: x.id, v2: x.v * 2 + 1 })),
      );
      process.stdout.write(
        `# redis outage: ${n} records, the server down 1.5 s after ${atKill} were written; source ${JSON.stringify(source.stats())}; sink ${JSON.stringify(sink.stats())}\n`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await r.cleanup().catch(() => {});
      await server.close();
    }
  });
});
