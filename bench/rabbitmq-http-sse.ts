/**
 * Rough throughput of the RabbitMQ and HTTP/SSE connectors on this machine
 * (one run each, a loaded shared machine: read the figures as orders of
 * magnitude, not as a benchmark):
 *
 * 1. RabbitMQ → map → RabbitMQ, classic and quorum queues, checkpoints every
 *    second (acks at each completion, confirms awaited at each barrier):
 *    from the start until the output queue holds every message.
 * 2. HTTP ingest (NDJSON POSTs of 1,000 records, one client) → map → SSE
 *    (one reading client): from the first POST until the client has every event.
 *
 * Run: node bench/rabbitmq-http-sse.ts [rabbit records] [http records]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'amqplib';
import { httpSource, sseSink } from '../src/connectors/http/index.ts';
import { rabbitmqSink, rabbitmqSource } from '../src/connectors/rabbitmq/index.ts';
import { Pipeline } from '../src/index.ts';
import { sseClient } from '../test/connectors/http/helpers.ts';

const rabbitN = Number(process.argv[2] ?? 50_000);
const httpN = Number(process.argv[3] ?? 200_000);
const url = 'amqp://guest:guest@127.0.0.1:5672';

async function until(ok: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await ok())) await new Promise((r) => setTimeout(r, 20));
}

async function rabbit(type: 'classic' | 'quorum'): Promise<void> {
  const conn = await connect(url);
  const ch = await conn.createConfirmChannel();
  const tag = `h5-bench-${type}-${process.pid}`;
  const input = `${tag}-in`;
  const output = `${tag}-out`;
  for (const q of [input, output])
    await ch.assertQueue(q, { durable: true, arguments: { 'x-queue-type': type } });
  for (let i = 0; i < rabbitN; i++) {
    ch.sendToQueue(input, Buffer.from(JSON.stringify({ id: i, v: i * 3, s: 'payload' })), {
      persistent: true,
    });
    if (i % 2000 === 1999) await ch.waitForConfirms();
  }
  await ch.waitForConfirms();
  const dir = mkdtempSync(join(tmpdir(), 'h5-bench-'));
  const p = new Pipeline({ name: `bench-rabbit-${type}` });
  p.source('in', rabbitmqSource<{ id: number; v: number }>({ queue: input, prefetch: 20_000 }))
    .map((r) => ({ id: r.id, v2: r.v * 2 }))
    .sink(rabbitmqSink({ queue: output, maxInFlight: 5000 }));
  const t0 = performance.now();
  const running = await p.start({ parallelism: 1, checkpoints: { dir, intervalMs: 1000 }, restart: false });
  await until(async () => (await ch.checkQueue(output)).messageCount >= rabbitN);
  const ms = performance.now() - t0;
  running.stop();
  await running.done;
  for (const q of [input, output]) await ch.deleteQueue(q);
  await conn.close();
  rmSync(dir, { recursive: true, force: true });
  console.log(
    `rabbitmq ${type} -> ${type}: ${rabbitN} records in ${(ms / 1000).toFixed(2)} s = ${Math.round(rabbitN / (ms / 1000))} events/s`,
  );
}

async function httpToSse(): Promise<void> {
  const source = httpSource<{ id: number; v: number }>({ port: 0, queueSize: 50_000 });
  const sink = sseSink<{ id: number; v2: number }>({ port: 0, clientBufferBytes: 64 * 1024 * 1024 });
  const p = new Pipeline({ name: 'bench-http-sse' });
  p.source('in', source)
    .map((r) => ({ id: r.id, v2: r.v * 2 }))
    .sink(sink);
  const running = await p.start({ parallelism: 1, restart: false });
  const [{ url: ingest }, { url: events }] = await Promise.all([source.listening(), sink.listening()]);
  const client = await sseClient(events);
  await until(() => sink.stats().clients === 1);
  let retries = 0;
  const t0 = performance.now();
  for (let i = 0; i < httpN; i += 1000) {
    const body = Array.from({ length: Math.min(1000, httpN - i) }, (_, k) =>
      JSON.stringify({ id: i + k, v: (i + k) * 3 }),
    ).join('\n');
    for (;;) {
      const res = await fetch(ingest, {
        method: 'POST',
        headers: { 'content-type': 'application/x-ndjson' },
        body,
      });
      await res.arrayBuffer();
      if (res.status === 202) break;
      retries++;
      await new Promise((r) => setTimeout(r, 5)); // a bench client retries sooner than Retry-After
    }
  }
  const posted = performance.now() - t0;
  await until(() => client.events.length >= httpN);
  const ms = performance.now() - t0;
  client.close();
  running.stop();
  await running.done;
  console.log(
    `http ndjson -> sse: ${httpN} records in ${(ms / 1000).toFixed(2)} s = ${Math.round(httpN / (ms / 1000))} events/s (ingest alone ${Math.round(httpN / (posted / 1000))} records/s, ${retries} 429s retried)`,
  );
}

await rabbit('classic');
await rabbit('quorum');
await httpToSse();
