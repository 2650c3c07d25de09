/**
 * The idempotent-consumer helper (src/api/dedupe.ts) over seeded random
 * input with copies (a redelivering, at-least-once source), against a batch
 * oracle: straight through, and failing mid-run so the run restarts from
 * its latest checkpoint (the seen ids are keyed state) into the exactly-once
 * file sink — the output equals the oracle's either way.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { dedupe } from '../../src/api/dedupe.ts';
import {
  arraySource,
  collectSink,
  EddyError,
  jsonLinesSink,
  Pipeline,
  type Source,
} from '../../src/index.ts';
import { Random } from '../../src/util/random.ts';

interface Msg {
  readonly id: string;
  /** Which copy of the message (0 = first delivery). */
  readonly copy: number;
  readonly t: number;
}

const TTL = 5_000;

/** Messages at increasing times; about a third delivered again 0..2×TTL later (some beyond the TTL). */
function input(seed: number, n: number): Msg[] {
  const r = new Random(seed);
  const out: Msg[] = [];
  for (let i = 0; i < n; i++) {
    const id = `m${r.int(n / 2)}`; // ids repeat by chance too, far apart or near
    const t = 1_000_000 + i * 10;
    out.push({ id, copy: 0, t });
    let copies = r.int(3) === 0 ? 1 + r.int(3) : 0;
    while (copies-- > 0) out.push({ id, copy: copies + 1, t: t + r.int(2 * TTL) });
  }
  // Arrival in time order (stable): at most the source's out-of-orderness late.
  return out.sort((a, b) => a.t - b.t);
}

/** The batch oracle: per id, in arrival order, let through when nothing passed in the last TTL. */
function oracle(msgs: readonly Msg[]): Msg[] {
  const last = new Map<string, number>();
  const out: Msg[] = [];
  for (const m of msgs) {
    const l = last.get(m.id);
    if (l !== undefined && m.t - l < TTL) continue;
    last.set(m.id, m.t);
    out.push(m);
  }
  return out;
}

const key = (m: Msg) => `${m.id}@${m.t}#${m.copy}`;

/** An array source that hands out small batches slowly and throws once after `failAfter` records. */
function flaky(msgs: readonly Msg[], failAfter: number): Source<Msg> {
  const inner = arraySource(msgs);
  let failed = false;
  return {
    kind: 'flaky',
    async open(ctx) {
      const reader = await inner.open(ctx);
      let handed = typeof ctx.restored === 'number' ? ctx.restored : 0;
      return {
        async poll(max) {
          await new Promise((r) => setTimeout(r, 1));
          if (!failed && handed >= failAfter) {
            failed = true;
            throw new EddyError('EDDY_IO_FAILED', 'the broker went away (test)');
          }
          const b = await reader.poll(Math.min(max, 50));
          if (b !== null) handed += b.values.length;
          return b;
        },
        position: () => reader.position!(),
      };
    },
  };
}

describe('dedupe', () => {
  it('equals the batch oracle over seeded random input with copies', async () => {
    for (const seed of [1, 2, 3]) {
      const msgs = input(seed, 3000);
      const p = new Pipeline();
      const out = collectSink<Msg>();
      dedupe(p.source('in', arraySource(msgs), { timestamp: (m) => m.t }), {
        id: (m) => m.id,
        ttlMs: TTL,
      }).sink(out);
      await p.run();
      const expected = oracle(msgs);
      assert.ok(expected.length < msgs.length * 0.8, 'the input has copies');
      assert.deepEqual(out.values.map(key).sort(), expected.map(key).sort(), `seed ${seed}`);
    }
  });

  it('restarted from its latest checkpoint after a failure mid-run: the same output, once (exactly-once file sink)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'h8-dedupe-'));
    try {
      const msgs = input(7, 6000);
      const path = join(dir, 'out.jsonl');
      const p = new Pipeline();
      dedupe(p.source('in', flaky(msgs, 3000), { timestamp: (m) => m.t }), {
        id: (m) => m.id,
        ttlMs: TTL,
        name: 'dedupe',
      }).sink(jsonLinesSink({ path }));
      let restarts = 0;
      const m = await p.run({
        checkpoints: { dir: join(dir, 'checkpoints'), intervalMs: 20 },
        restart: { initialBackoffMs: 10, maxFailures: 3 },
        onRestart: () => restarts++,
      });
      assert.equal(restarts, 1);
      assert.ok((m.checkpoints?.completed ?? 0) >= 2, 'checkpoints were taken before the failure');
      const lines = readFileSync(path, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Msg);
      assert.deepEqual(lines.map(key).sort(), oracle(msgs).map(key).sort());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('throughput: 150,000 messages and their copies, array source to collecting sink', async (t) => {
    const msgs = input(9, 150_000);
    const p = new Pipeline();
    const out = collectSink<Msg>();
    dedupe(p.source('in', arraySource(msgs), { timestamp: (m) => m.t }), {
      id: (m) => m.id,
      ttlMs: TTL,
    }).sink(out);
    const started = performance.now();
    await p.run();
    const ms = performance.now() - started;
    assert.equal(out.values.length, oracle(msgs).length);
    t.diagnostic(
      `dedupe throughput: ${msgs.length} messages in ${Math.round(ms)} ms = ${Math.round((msgs.length / ms) * 1000)} messages/s`,
    );
  });

  it('names its misconfiguration', () => {
    const p = new Pipeline();
    const s = p.source('in', arraySource<Msg>([]));
    assert.throws(() => dedupe(s, { ttlMs: 10 } as never), /dedupe needs an id function/);
    assert.throws(() => dedupe(s, { id: (m) => m.id, ttlMs: 0 }), /dedupe ttlMs/);
    assert.throws(() => dedupe(s, { id: (m: Msg) => m.id } as never), /dedupe ttlMs/);
  });
});
