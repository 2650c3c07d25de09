/**
 * `npm run bench -- connectors`: throughput of each broker connector on this
 * machine (issue 16), source → map → sink through the real local service,
 * with checkpoints every second (acknowledgements and commits at each), at
 * parallelism 1:
 *
 * - NATS JetStream → JetStream (pull consumer, publishes with message ids),
 * - Redis Streams → Redis Streams (consumer group, XADD),
 * - RabbitMQ classic queue → classic queue (prefetch, publisher confirms),
 * - PostgreSQL table → table (polling source, exactly-once sink),
 * - MQTT QoS 1 → QoS 1 (a client publishes while the pipeline runs; a
 *   collector counts the output),
 * - HTTP NDJSON ingest → SSE (one posting client, one reading client).
 *
 * For the queue-like services the input is loaded before the clock starts;
 * the clock stops when the output holds every record. *events per CPU-s* is
 * records ÷ this process's user+system CPU time over the same span: it
 * includes the clients of MQTT and HTTP (in this process), never the
 * servers'. One JSON line:
 * {"bench":"connectors","records":N,"results":{"nats":{"eventsPerSec":…,"eventsPerCpuSec":…},…}}
 * Flags: --records N (default 50,000), --only nats,redis,…
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect as natsConnect } from '@nats-io/transport-node';
import { connect as amqpConnect } from 'amqplib';
import { Redis } from 'ioredis';
import mqtt from 'mqtt';
import pg from 'pg';
import { httpSource, sseSink } from '../src/connectors/http/index.ts';
import { mqttSink, mqttSource } from '../src/connectors/mqtt/index.ts';
import { natsSink, natsSource } from '../src/connectors/nats/index.ts';
import { postgresSink, postgresSource } from '../src/connectors/postgres/index.ts';
import { rabbitmqSink, rabbitmqSource } from '../src/connectors/rabbitmq/index.ts';
import { redisSink, redisSource } from '../src/connectors/redis/index.ts';
import { Pipeline } from '../src/index.ts';
import { sseClient } from '../test/connectors/http/helpers.ts';

interface In {
  readonly id: number;
  readonly v: number;
  readonly s: string;
}
interface Out {
  readonly id: number;
  readonly v2: number;
  readonly s: string;
}
const transform = (r: In): Out => ({ id: r.id, v2: r.v * 2, s: r.s });
const record = (i: number): In => ({ id: i, v: i * 3, s: 'payload-of-some-forty-bytes-like-an-event' });

interface Figure {
  readonly eventsPerSec: number;
  readonly eventsPerCpuSec: number;
  readonly seconds: number;
}

async function until(ok: () => boolean | Promise<boolean>, what: string, timeoutMs = 600_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`connectors bench: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Times `body` from now until it resolves: wall and this process's CPU. */
async function timed(n: number, body: () => Promise<void>): Promise<Figure> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await body();
  const secs = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuSecs = (cpu.user + cpu.system) / 1e6;
  return {
    eventsPerSec: Math.round(n / secs),
    eventsPerCpuSec: Math.round(n / cpuSecs),
    seconds: Number(secs.toFixed(2)),
  };
}

const tag = `eddy-bench-${process.pid}`;
const withDir = async <R>(f: (dir: string) => Promise<R>): Promise<R> => {
  const dir = mkdtempSync(join(tmpdir(), 'eddy-bench-connectors-'));
  try {
    return await f(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};

async function nats(n: number): Promise<Figure> {
  const nc = await natsConnect({ servers: '127.0.0.1:4222' });
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  const input = `${tag}IN`.replaceAll('-', '');
  const output = `${tag}OUT`.replaceAll('-', '');
  try {
    await jsm.streams.add({ name: input, subjects: [`${input}.>`] });
    await jsm.streams.add({ name: output, subjects: [`${output}.>`] });
    for (let i = 0; i < n; i += 500)
      await Promise.all(
        Array.from({ length: Math.min(500, n - i) }, (_, k) =>
          js.publish(`${input}.in`, JSON.stringify(record(i + k))),
        ),
      );
    return await withDir(async (dir) => {
      const p = new Pipeline({ name: 'bench-nats' });
      p.source('in', natsSource<In>({ stream: input, consumer: 'bench', maxAckPending: 20_000 }))
        .map(transform)
        .sink(natsSink<Out>({ stream: output, subject: `${output}.out` }));
      return timed(n, async () => {
        const running = await p.start({
          parallelism: 1,
          checkpoints: { dir, intervalMs: 1000 },
          restart: false,
        });
        await until(async () => (await jsm.streams.info(output)).state.messages >= n, 'the NATS output');
        running.stop();
        await running.done;
      });
    });
  } finally {
    await jsm.streams.delete(input).catch(() => {});
    await jsm.streams.delete(output).catch(() => {});
    await nc.close();
  }
}

async function redis(n: number): Promise<Figure> {
  const r = new Redis('redis://127.0.0.1:6379');
  const input = `${tag}-in`;
  const output = `${tag}-out`;
  try {
    for (let i = 0; i < n; i += 1000) {
      const batch = r.pipeline();
      for (let k = i; k < Math.min(n, i + 1000); k++)
        batch.xadd(input, '*', 'data', JSON.stringify(record(k)));
      await batch.exec();
    }
    return await withDir(async (dir) => {
      const p = new Pipeline({ name: 'bench-redis' });
      p.source('in', redisSource<In>({ stream: input, group: 'bench', maxPending: 20_000 }))
        .map(transform)
        .sink(redisSink<Out>({ stream: output, createStream: true }));
      return timed(n, async () => {
        const running = await p.start({
          parallelism: 1,
          checkpoints: { dir, intervalMs: 1000 },
          restart: false,
        });
        await until(async () => (await r.xlen(output)) >= n, 'the Redis output');
        running.stop();
        await running.done;
      });
    });
  } finally {
    await r.del(input, output);
    await r.quit();
  }
}

async function rabbitmq(n: number): Promise<Figure> {
  const conn = await amqpConnect('amqp://guest:guest@127.0.0.1:5672');
  const ch = await conn.createConfirmChannel();
  const input = `${tag}-in`;
  const output = `${tag}-out`;
  try {
    for (const q of [input, output]) await ch.assertQueue(q, { durable: true });
    for (let i = 0; i < n; i++) {
      ch.sendToQueue(input, Buffer.from(JSON.stringify(record(i))), { persistent: true });
      if (i % 2000 === 1999) await ch.waitForConfirms();
    }
    await ch.waitForConfirms();
    return await withDir(async (dir) => {
      const p = new Pipeline({ name: 'bench-rabbitmq' });
      p.source('in', rabbitmqSource<In>({ queue: input, prefetch: 20_000 }))
        .map(transform)
        .sink(rabbitmqSink<Out>({ queue: output, maxInFlight: 5000 }));
      return timed(n, async () => {
        const running = await p.start({
          parallelism: 1,
          checkpoints: { dir, intervalMs: 1000 },
          restart: false,
        });
        await until(async () => (await ch.checkQueue(output)).messageCount >= n, 'the RabbitMQ output');
        running.stop();
        await running.done;
      });
    });
  } finally {
    for (const q of [input, output]) await ch.deleteQueue(q).catch(() => {});
    await conn.close();
  }
}

async function postgres(n: number): Promise<Figure> {
  const db = `eddy_bench_${process.pid}`;
  const admin = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/postgres' });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${db}`);
  const url = `postgres://postgres@127.0.0.1:5432/${db}`;
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query('CREATE TABLE src (id int PRIMARY KEY, v int NOT NULL, s text NOT NULL)');
    await c.query('CREATE TABLE dst (id int PRIMARY KEY, v2 int NOT NULL, s text NOT NULL)');
    await c.query(
      `INSERT INTO src SELECT i, i * 3, 'payload-of-some-forty-bytes-like-an-event' FROM generate_series(0, $1::int - 1) AS i`,
      [n],
    );
    return await withDir(async (dir) => {
      const p = new Pipeline({ name: 'bench-postgres' });
      p.source(
        'in',
        postgresSource<In>({ connectionString: url, table: 'src', orderBy: ['id'], fetchSize: 5000 }),
      )
        .map(transform)
        .sink(postgresSink<Out>({ connectionString: url, table: 'dst' }));
      return timed(n, async () => {
        await p.run({ parallelism: 1, checkpoints: { dir, intervalMs: 1000 }, restart: false });
        const [{ count }] = (await c.query<{ count: string }>('SELECT count(*) FROM dst')).rows as [
          { count: string },
        ];
        if (Number(count) !== n) throw new Error(`postgres: ${count} rows of ${n}`);
      });
    });
  } finally {
    await c.end();
    await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
    await admin.end();
  }
}

async function mqttBench(n: number): Promise<Figure> {
  const url = 'mqtt://127.0.0.1:1883';
  const input = `${tag}/in`;
  const output = `${tag}/out`;
  const collector = await mqtt.connectAsync(url, { protocolVersion: 5, reconnectPeriod: 0 });
  const publisher = await mqtt.connectAsync(url, { protocolVersion: 5, reconnectPeriod: 0 });
  let got = 0;
  collector.on('message', () => got++);
  await collector.subscribeAsync(output, { qos: 1 });
  const clientId = `${tag}-pipeline`;
  try {
    const p = new Pipeline({ name: 'bench-mqtt' });
    p.source('in', mqttSource<In>({ url, topics: [input], clientId, sessionExpirySeconds: 0 }))
      .map(transform)
      .sink(mqttSink<Out>({ url, topic: output, maxInFlight: 1000 }));
    const running = await p.start({ parallelism: 1, restart: false });
    // Subscribed once a probe goes through (the source subscribes as it opens).
    await until(async () => {
      await publisher.publishAsync(input, JSON.stringify(record(-1)), { qos: 1 });
      return got > 0;
    }, 'the MQTT pipeline to subscribe');
    got = 0;
    const figure = await timed(n, async () => {
      for (let i = 0; i < n; i += 500)
        await Promise.all(
          Array.from({ length: Math.min(500, n - i) }, (_, k) =>
            publisher.publishAsync(input, JSON.stringify(record(i + k)), { qos: 1 }),
          ),
        );
      await until(() => got >= n, 'the MQTT output');
    });
    running.stop();
    await running.done;
    return figure;
  } finally {
    await publisher.endAsync();
    await collector.endAsync();
  }
}

async function httpSse(n: number): Promise<Figure> {
  const source = httpSource<In>({ port: 0, queueSize: 50_000 });
  const sink = sseSink<Out>({ port: 0, clientBufferBytes: 64 * 1024 * 1024 });
  const p = new Pipeline({ name: 'bench-http-sse' });
  p.source('in', source).map(transform).sink(sink);
  const running = await p.start({ parallelism: 1, restart: false });
  const [{ url: ingest }, { url: events }] = await Promise.all([source.listening(), sink.listening()]);
  const client = await sseClient(events);
  await until(() => sink.stats().clients === 1, 'the SSE client');
  const figure = await timed(n, async () => {
    for (let i = 0; i < n; i += 1000) {
      const body = Array.from({ length: Math.min(1000, n - i) }, (_, k) =>
        JSON.stringify(record(i + k)),
      ).join('\n');
      for (;;) {
        const res = await fetch(ingest, {
          method: 'POST',
          headers: { 'content-type': 'application/x-ndjson' },
          body,
        });
        await res.arrayBuffer();
        if (res.status === 202) break;
        await new Promise((r) => setTimeout(r, 5));
      }
    }
    await until(() => client.events.length >= n, 'the SSE output');
  });
  client.close();
  running.stop();
  await running.done;
  return figure;
}

const ALL: Record<string, (n: number) => Promise<Figure>> = {
  nats,
  redis,
  rabbitmq,
  postgres,
  mqtt: mqttBench,
  'http-sse': httpSse,
};

export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { records: { type: 'string', default: '50000' }, only: { type: 'string' } },
  });
  const n = Number(values.records);
  const names = values.only === undefined ? Object.keys(ALL) : values.only.split(',');
  const results: Record<string, Figure> = {};
  for (const name of names) {
    const run = ALL[name];
    if (run === undefined)
      throw new Error(`connectors bench: no connector ${name}; pick from ${Object.keys(ALL).join(', ')}`);
    process.stderr.write(`connectors: ${name}, ${n.toLocaleString('en-US')} records…\n`);
    results[name] = await run(n);
    process.stderr.write(`  ${name}: ${JSON.stringify(results[name])}\n`);
  }
  console.log(JSON.stringify({ bench: 'connectors', records: n, results }));
}
