/**
 * The checkpoint-completion hook of sources (`SourceReader.checkpointComplete`,
 * Flink's notifyCheckpointComplete): a reader is told the checkpoint id when
 * its position is taken at the barrier and acknowledges, once that checkpoint
 * is complete, exactly what it handed out before — never a record after the
 * barrier, nothing for a checkpoint that failed, nothing after a run failed —
 * with subtasks in this thread and in worker threads. Checked against what
 * a two-phase-commit sink committed: every acknowledged record is committed
 * output of that checkpoint or an earlier one, and no record handed out after
 * the barrier is.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { BroadcastChannel } from 'node:worker_threads';
import { type AckEvent, ackingPipeline } from './fixtures/acking-source.ts';

const moduleUrl = new URL('./fixtures/acking-module.ts', import.meta.url).href;

async function waitUntil(what: string, ok: () => boolean, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > until) assert.fail(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const handed = (events: readonly AckEvent[]) =>
  events.reduce((n, e) => n + (e.t === 'handed' ? e.ids.length : 0), 0);

/**
 * Checks the acknowledgements in `events` against the sink's commits and
 * returns, per subtask, the records acknowledged and those handed out.
 */
function checkAcks(
  events: readonly AckEvent[],
  o: { readonly failed: readonly number[]; readonly subtasks: number },
): { acked: string[][]; handedOut: string[][]; completes: number[][] } {
  const committed = new Map<number, string[]>();
  for (const e of events) if (e.t === 'committed') committed.set(e.cp, e.ids);
  for (const f of o.failed)
    assert.equal(committed.has(f), false, `checkpoint ${f} failed: nothing committed`);
  const committedUpTo = (cp: number) => {
    const out = new Set<string>();
    for (const [id, ids] of committed) if (id <= cp) for (const x of ids) out.add(x);
    return out;
  };
  const acked: string[][] = [];
  const handedOut: string[][] = [];
  const completes: number[][] = [];
  for (let s = 0; s < o.subtasks; s++) {
    const mine = events.filter((e) => 's' in e && e.s === s);
    const seq: string[] = [];
    const positions = new Map<number, number>();
    const done: string[] = [];
    const cps: number[] = [];
    for (const e of mine) {
      if (e.t === 'handed') seq.push(...e.ids);
      else if (e.t === 'position') {
        assert.equal(e.count, seq.length, 'the position is taken between polls');
        positions.set(e.cp, e.count);
      } else if (e.t === 'complete') {
        assert.ok(!o.failed.includes(e.cp), `subtask ${s} was told failed checkpoint ${e.cp} completed`);
        const barrier = positions.get(e.cp);
        assert.notEqual(barrier, undefined, `subtask ${s}: checkpoint ${e.cp} completed before its barrier`);
        assert.deepEqual(
          e.acked,
          seq.slice(done.length, barrier),
          'acknowledges what came before the barrier',
        );
        const upTo = committedUpTo(e.cp);
        for (const id of e.acked) assert.ok(upTo.has(id), `${id} acknowledged at ${e.cp} but not committed`);
        for (const id of seq.slice(barrier)) {
          assert.ok(!upTo.has(id), `${id} came after barrier ${e.cp} but was committed by it`);
        }
        done.push(...e.acked);
        cps.push(e.cp);
      }
    }
    assert.equal(mine.at(-1)?.t, 'closed', `subtask ${s}: the reader is closed last`);
    assert.equal(mine.filter((e) => e.t === 'closed').length, 1, `subtask ${s}: closed once`);
    acked.push(done);
    handedOut.push(seq);
    completes.push(cps);
  }
  return { acked, handedOut, completes };
}

describe('source acknowledgements on checkpoint completion', () => {
  it('in this thread (2 subtasks): acks each completed checkpoint, skips a failed one, and the final one acks the rest', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'h1-acks-'));
    try {
      const events: AckEvent[] = [];
      const p = ackingPipeline((e) => events.push(e), { count: 1_000_000, refusePreCommit: 2 });
      const running = await p.start({
        parallelism: 2,
        checkpoints: { dir, intervalMs: 0 },
        restart: false,
      });
      await waitUntil('records flow', () => handed(events) > 50);
      assert.equal((await running.checkpoint()).error, undefined);
      const after1 = handed(events);
      await waitUntil('more records flow', () => handed(events) > after1 + 50);
      const second = await running.checkpoint();
      assert.match(String(second.error), /pre-commit 2 refused/);
      const after2 = handed(events);
      await waitUntil('more records flow', () => handed(events) > after2 + 50);
      assert.equal((await running.checkpoint()).error, undefined);
      const after3 = handed(events);
      await waitUntil('more records flow', () => handed(events) > after3 + 50);
      running.stop();
      await running.done;
      const r = checkAcks(events, { failed: [2], subtasks: 2 });
      for (let s = 0; s < 2; s++) {
        assert.deepEqual(r.completes[s], [1, 3, 4], `subtask ${s}: told of 1, 3 and the final 4`);
        assert.deepEqual(
          r.acked[s],
          r.handedOut[s],
          `subtask ${s}: in the end everything is acknowledged once`,
        );
        assert.ok(r.handedOut[s]!.length > 0);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a run that fails acks nothing after its last completed checkpoint', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'h1-acks-fail-'));
    try {
      const events: AckEvent[] = [];
      let failing = false;
      const p = ackingPipeline((e) => events.push(e), { count: 1_000_000, failWrites: () => failing });
      const running = await p.start({ checkpoints: { dir, intervalMs: 0 }, restart: false });
      await waitUntil('records flow', () => handed(events) > 50);
      assert.equal((await running.checkpoint()).error, undefined);
      const after1 = handed(events);
      await waitUntil('more records flow', () => handed(events) > after1 + 50);
      failing = true;
      await assert.rejects(running.done, /the sink failed/);
      // Every subtask's reader (EDDY_PARALLELISM may give several): one closing first is not the end.
      const closedAll = () => {
        const readers = new Set(events.filter((e) => e.t === 'handed').map((e) => ('s' in e ? e.s : -1)));
        const closed = new Set(events.filter((e) => e.t === 'closed').map((e) => ('s' in e ? e.s : -1)));
        return readers.size > 0 && [...readers].every((r) => closed.has(r));
      };
      await waitUntil('every reader is closed', closedAll);
      const r = checkAcks(events, { failed: [], subtasks: 1 });
      assert.deepEqual(r.completes[0], [1]);
      const barrier = events.find((e) => e.t === 'position' && e.cp === 1);
      assert.equal(r.acked[0]!.length, barrier?.t === 'position' ? barrier.count : -1);
      assert.ok(r.handedOut[0]!.length > r.acked[0]!.length, 'records after the barrier stay unacknowledged');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('without checkpoints the hook is never called and the reader closes at the end, as before', async () => {
    const events: AckEvent[] = [];
    await ackingPipeline((e) => events.push(e), { count: 40 }).run({ parallelism: 2 });
    assert.equal(
      events.some((e) => e.t === 'position' || e.t === 'complete'),
      false,
    );
    assert.equal(events.filter((e) => e.t === 'closed').length, 2);
    assert.equal(handed(events), 80);
  });

  it('in worker threads (2 subtasks): each thread acks its own share on completion, never a failed checkpoint', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'h1-acks-threads-'));
    const channel = `h1-acks-${process.pid}-${Date.now()}`;
    const listen = new BroadcastChannel(channel);
    const events: AckEvent[] = [];
    listen.onmessage = (m) => events.push((m as { data: AckEvent }).data);
    try {
      const mod = (await import(moduleUrl)).default as {
        build(v: Record<string, unknown>): ReturnType<typeof ackingPipeline>;
      };
      const values = { channel, count: 1_000_000, refuse: 2 };
      const p = mod.build(values);
      const running = await p.startInThreads(moduleUrl, values, {
        parallelism: 2,
        checkpoints: { dir, intervalMs: 0 },
        restart: false,
      });
      const fromWorker = () => events.filter((e) => e.t === 'handed' && e.s === 1).length;
      await waitUntil('records flow in both threads', () => handed(events) > 50 && fromWorker() > 5);
      assert.equal((await running.checkpoint()).error, undefined);
      const after1 = handed(events);
      await waitUntil('more records flow', () => handed(events) > after1 + 50);
      assert.match(String((await running.checkpoint()).error), /pre-commit 2 refused/);
      const after2 = handed(events);
      await waitUntil('more records flow', () => handed(events) > after2 + 50);
      assert.equal((await running.checkpoint()).error, undefined);
      running.stop();
      await running.done;
      await waitUntil(
        'both readers report closed',
        () => events.filter((e) => e.t === 'closed').length === 2,
      );
      const r = checkAcks(events, { failed: [2], subtasks: 2 });
      for (let s = 0; s < 2; s++) {
        assert.deepEqual(r.completes[s], [1, 3, 4], `subtask ${s}: told of 1, 3 and the final 4`);
        assert.deepEqual(
          r.acked[s],
          r.handedOut[s],
          `subtask ${s}: in the end everything is acknowledged once`,
        );
        assert.ok(r.handedOut[s]!.length > 0);
      }
    } finally {
      listen.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
