import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Random } from '../../src/util/random.ts';
import { gridWindows, sessionWindows, windowKey } from '../helpers/oracle.ts';
import { type GoldenEvent, goldenSource } from './golden.ts';

const CHILD = join(import.meta.dirname, 'fixtures', 'crash-child.ts');
const COUNT = 24_000;
const RATE = 8_000;
const SEED = 11;

interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the child once; `killAfterMs` SIGKILLs it from outside. */
function runChild(dir: string, crash: string, killAfterMs?: number): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD], {
      env: {
        ...process.env,
        CRASH_DIR: dir,
        CRASH_COUNT: String(COUNT),
        CRASH_SEED: String(SEED),
        CRASH_RATE: String(RATE),
        CRASH: crash,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const killer =
      killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    // A hard limit so a hung child cannot hang the suite.
    const limit = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(limit);
      if (killer !== undefined) clearTimeout(killer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** The events the child's generator produces, read straight from the source (no rate limit). */
async function inputEvents(): Promise<GoldenEvent[]> {
  const reader = await goldenSource({ count: COUNT, seed: SEED, keys: 13, late: false }).open({
    stepId: 'oracle',
    clock: { now: () => 0, schedule: () => () => {} } as never,
    batchSize: 4096,
    deadLetter: () => {},
    signal: new AbortController().signal,
    subtask: 0,
    parallelism: 1,
    jobStart: 0,
  });
  const events: GoldenEvent[] = [];
  for (;;) {
    const b = await reader.poll(4096);
    if (b === null) return events;
    events.push(...b.values);
  }
}

function readLines(path: string): Record<string, unknown>[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('crash recovery: SIGKILL at random moments and mid-checkpoint, exactly-once output', () => {
  it('after repeated kills and restarts the committed output equals the batch oracle: 0 lost, 0 duplicated', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eddy-crash-'));
    try {
      const random = new Random(Number(process.env['CRASH_TEST_SEED'] ?? Date.now() % 100_000));
      // External kills at random moments, and kills inside the checkpoint protocol.
      const plan = [
        { crash: 'none', killAfterMs: 500 + random.int(900) },
        { crash: 'precommit:3' },
        { crash: 'none', killAfterMs: 400 + random.int(900) },
        { crash: 'commit:2' },
        { crash: 'precommit:1' },
        { crash: 'none', killAfterMs: 400 + random.int(900) },
      ];
      let kills = 0;
      for (const step of plan) {
        const exit = await runChild(dir, step.crash, step.killAfterMs);
        if (exit.code === 0) break; // finished before the kill: nothing more to crash
        assert.equal(exit.signal, 'SIGKILL', `child died otherwise: ${exit.stderr}`);
        kills++;
      }
      const last = await runChild(dir, 'none');
      assert.equal(last.code, 0, `the final run failed: ${last.stderr}`);
      assert.ok(kills >= 4, `at least 4 runs were killed (got ${kills})`);

      const events = await inputEvents();
      assert.equal(events.length, COUNT);
      // Tumbling windows: exactly the oracle's windows with exactly its ids.
      const tumbling = readLines(join(dir, 'tumbling.jsonl'));
      const got = new Map<string, number[]>();
      for (const r of tumbling) {
        const w = r['window'] as { start: number; end: number };
        const k = windowKey(r['key'] as string, w.start, w.end);
        assert.ok(!got.has(k), `window ${k} emitted once`);
        got.set(k, r['value'] as number[]);
      }
      const expected = gridWindows(
        events.map((e) => ({ id: e.id, key: e.key, ts: e.ts, value: e.value })),
        1000,
      );
      assert.equal(got.size, expected.size, 'tumbling windows');
      for (const [k, ids] of expected)
        assert.deepEqual(
          got.get(k),
          [...ids].sort((a, b) => a - b),
          k,
        );
      // Sessions likewise.
      const sessions = new Map<string, number[]>();
      for (const r of readLines(join(dir, 'sessions.jsonl'))) {
        const w = r['window'] as { start: number; end: number };
        sessions.set(windowKey(r['key'] as string, w.start, w.end), r['value'] as number[]);
      }
      const expectedSessions = sessionWindows(
        events.map((e) => ({ id: e.id, key: e.key, ts: e.ts, value: e.value })),
        300,
      );
      assert.equal(sessions.size, expectedSessions.size, 'sessions');
      for (const [k, ids] of expectedSessions)
        assert.deepEqual(
          sessions.get(k),
          [...ids].sort((a, b) => a - b),
          k,
        );
      // Per-key sequences rise by exactly 1, and carry each of the key's events once.
      const seqs = new Map<string, { seq: number; id: number }[]>();
      for (const r of readLines(join(dir, 'sequence.jsonl'))) {
        const list = seqs.get(r['key'] as string) ?? [];
        list.push({ seq: r['seq'] as number, id: r['id'] as number });
        seqs.set(r['key'] as string, list);
      }
      const idsByKey = new Map<string, number[]>();
      for (const e of events) idsByKey.set(e.key, [...(idsByKey.get(e.key) ?? []), e.id]);
      assert.equal(seqs.size, idsByKey.size);
      for (const [key, list] of seqs) {
        list.sort((a, b) => a.seq - b.seq);
        for (let i = 0; i < list.length; i++)
          assert.equal(list[i]!.seq, i + 1, `key ${key}: sequence rises by exactly 1`);
        assert.deepEqual(
          list.map((x) => x.id).sort((a, b) => a - b),
          idsByKey.get(key)!.sort((a, b) => a - b),
          `key ${key}: each event once`,
        );
      }
      // Timers: each distinct (key, time) fired exactly once.
      const timers = readLines(join(dir, 'timers.jsonl')).map((r) => `${r['key']}@${r['timer']}`);
      const expectedTimers = new Set(events.map((e) => `${e.key}@${Math.floor(e.ts / 100) * 100 + 500}`));
      assert.equal(timers.length, expectedTimers.size, 'timers fired once each');
      assert.deepEqual(new Set(timers), expectedTimers);
      // Nothing left half-committed.
      const leftovers = readdirSync(dir).filter((n) => /\.(inprogress|pending)-\d+$/.test(n));
      assert.deepEqual(leftovers, []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
