/**
 * A record larger than the server takes: a Redis of the test's own with
 * `proto-max-bulk-len 1mb`. The sink dead-letters the 2 MB record with the
 * reason and adds the others; the run ends without a restart (the server
 * would otherwise close the connection, and the client send the command
 * again on reconnecting).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { redisSink } from '../../../src/connectors/redis/index.ts';
import { big, runRefusing } from '../../helpers/refused.ts';
import { redisServer } from '../../helpers/server-process.ts';
import { redisFixture, redisService } from './helpers.ts';

const service = await redisService(); // the binary comes with the shared server's package

describe('Redis Streams: records larger than the server takes', {
  skip: service.skip,
  timeout: 120_000,
}, () => {
  it("a record over the server's proto-max-bulk-len is dead-lettered, the others added", async () => {
    const server = await redisServer(['--proto-max-bulk-len', '1mb']);
    const url = `redis://127.0.0.1:${server.port}`;
    const r = await redisFixture(url);
    try {
      const sink = redisSink<{ id: number; pad: string }>({ url, stream: 'out', createStream: true });
      const dead = await runRefusing(
        sink,
        [0, 1, 2, 3, 4].map((id) => ({ id, pad: id === 2 ? big(2 * 1024 * 1024) : '' })),
      );
      assert.equal(dead.length, 1);
      assert.match(
        dead[0]!.reason,
        /redisSink: a record of \d+ bytes is larger than the server's proto-max-bulk-len \(1048576 bytes\)/,
      );
      assert.deepEqual(
        (await r.readAll('out')).map((e) => (JSON.parse(e.data) as { id: number }).id),
        [0, 1, 3, 4],
      );
      assert.deepEqual(sink.stats(), { added: 4, duplicates: 0, refused: 1 });
    } finally {
      await r.cleanup().catch(() => {});
      await server.close();
    }
  });
});
