import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CheckpointStorage, type Chunk, loadCheckpoint } from '../../src/checkpoint/storage.ts';
import { decode, encode } from '../../src/codec/chunks.ts';
import { EddyError } from '../../src/index.ts';

function chunk(value: unknown, keyGroup = 0): Chunk {
  return { kind: 'state', step: 's', name: 't', keyGroup, entries: 1, bytes: encode(value) };
}

function header(id: number) {
  return {
    id,
    kind: 'checkpoint' as const,
    pipeline: 'p',
    createdAt: 0,
    maxParallelism: 128,
    parallelism: 1,
  };
}

describe('checkpoint storage', () => {
  it('writes atomically, reads back every chunk, and keeps only the newest `retain`', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eddy-storage-'));
    try {
      const storage = new CheckpointStorage(dir, 2);
      for (let id = 1; id <= 4; id++) {
        await storage.write(header(id), [
          chunk({ id, big: 'x'.repeat(id * 1000) }, 3),
          chunk([id, -Infinity], 7),
        ]);
        await storage.prune();
      }
      assert.deepEqual(readdirSync(dir).sort(), ['chk-3', 'chk-4']);
      const latest = await storage.latest();
      assert.equal(latest?.manifest.id, 4);
      const [a, b] = latest!.manifest.chunks;
      assert.deepEqual(decode(latest!.read(a!)), { id: 4, big: 'x'.repeat(4000) });
      assert.deepEqual(decode(latest!.read(b!)), [4, -Infinity]);
      assert.equal(b!.keyGroup, 7);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('never uses a torn or half-written checkpoint: falls back to the previous complete one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eddy-storage-'));
    try {
      const storage = new CheckpointStorage(dir, 5);
      await storage.write(header(1), [chunk('one')]);
      await storage.write(header(2), [chunk('two')]);
      // A crash while writing checkpoint 3: only its in-progress directory exists.
      mkdirSync(join(dir, 'chk-3.inprogress'));
      writeFileSync(join(dir, 'chk-3.inprogress', 'data.bin'), 'partial');
      // Checkpoint 2's data torn after the fact (disk trouble): size and CRC no longer match.
      truncateSync(join(dir, 'chk-2', 'data.bin'), 2);
      const skipped: string[] = [];
      const latest = await storage.latest((d) => skipped.push(d));
      assert.equal(latest?.manifest.id, 1);
      assert.deepEqual(decode(latest!.read(latest!.manifest.chunks[0]!)), 'one');
      assert.deepEqual(skipped, [join(dir, 'chk-2')]);
      await storage.prune();
      assert.ok(!readdirSync(dir).includes('chk-3.inprogress'), 'unfinished directories are removed');
      await assert.rejects(loadCheckpoint(join(dir, 'chk-2')), (e: unknown) => {
        assert.ok(e instanceof EddyError && e.code === 'EDDY_CHECKPOINT_INVALID');
        assert.match(e.message, /torn or corrupted/);
        return true;
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a directory that is not a checkpoint gives a clear error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eddy-storage-'));
    try {
      await assert.rejects(loadCheckpoint(dir), /no readable manifest\.json/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
