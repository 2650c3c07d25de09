/**
 * eddy's read_committed filter (aborted.ts) against a model of a partition's
 * log: producers interleave transactions that commit or abort, plus
 * non-transactional writes; a fetch response is any contiguous run of batches
 * with the aborted transactions the broker lists for it (those overlapping
 * it). What stays must be exactly the records of committed transactions and
 * the non-transactional ones.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';

import { dropAborted, type FetchedBatch } from '../../../src/connectors/kafka/aborted.ts';

const TRANSACTIONAL = 1 << 4;
const CONTROL = 1 << 5;

function marker(abort: boolean): { key: Buffer } {
  const key = Buffer.alloc(4);
  key.writeInt16BE(0, 0);
  key.writeInt16BE(abort ? 0 : 1, 2);
  return { key };
}

type Op = { producer: number; kind: 'write' | 'commit' | 'abort' | 'plain'; records: number };

/** Builds the log from the ops; every transaction left open is ended at the end (as below the LSO). */
function logOf(ops: readonly Op[], endOpen: boolean[]) {
  const batches: (FetchedBatch & { labels: string[] })[] = [];
  const open = new Map<number, { first: bigint; labels: string[] }>();
  const aborted: { producerId: bigint; firstOffset: bigint; lastOffset: bigint }[] = [];
  const committedLabels = new Set<string>();
  let offset = 0n;
  let label = 0;
  const end = (producer: number, abort: boolean) => {
    const tx = open.get(producer);
    if (tx === undefined) return;
    open.delete(producer);
    batches.push({
      attributes: CONTROL | TRANSACTIONAL,
      firstOffset: offset,
      lastOffsetDelta: 0,
      producerId: BigInt(producer),
      records: [marker(abort)],
      labels: [],
    });
    if (abort) aborted.push({ producerId: BigInt(producer), firstOffset: tx.first, lastOffset: offset });
    else for (const l of tx.labels) committedLabels.add(l);
    offset += 1n;
  };
  for (const op of ops) {
    if (op.kind === 'commit' || op.kind === 'abort') {
      end(op.producer, op.kind === 'abort');
      continue;
    }
    const labels = Array.from({ length: op.records }, () => `r${label++}`);
    if (op.kind === 'plain') {
      for (const l of labels) committedLabels.add(l);
    } else {
      let tx = open.get(op.producer);
      if (tx === undefined) open.set(op.producer, (tx = { first: offset, labels: [] }));
      tx.labels.push(...labels);
    }
    batches.push({
      attributes: op.kind === 'plain' ? 0 : TRANSACTIONAL,
      firstOffset: offset,
      lastOffsetDelta: op.records - 1,
      producerId: op.kind === 'plain' ? -1n : BigInt(op.producer),
      records: labels.map(() => ({ key: null })),
      labels,
    });
    offset += BigInt(op.records);
  }
  for (const producer of [...open.keys()]) end(producer, endOpen[producer] ?? true);
  return { batches, aborted, committedLabels };
}

const ops = fc.array(
  fc.record({
    producer: fc.integer({ min: 1, max: 3 }),
    kind: fc.constantFrom<Op['kind']>('write', 'write', 'write', 'commit', 'abort', 'abort', 'plain'),
    records: fc.integer({ min: 1, max: 3 }),
  }),
  { maxLength: 60 },
);

describe('read_committed filter (dropAborted)', () => {
  it('keeps exactly the committed and non-transactional records of any fetch response', () => {
    fc.assert(
      fc.property(
        ops,
        fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }),
        fc.nat(),
        fc.nat(),
        (list, endOpen, a, b) => {
          const { batches, aborted, committedLabels } = logOf(list, endOpen);
          if (batches.length === 0) return;
          const from = a % batches.length;
          const to = from + 1 + (b % (batches.length - from));
          const slice = batches.slice(from, to).map((x) => ({ ...x, records: [...x.records] }));
          const lo = slice[0]!.firstOffset;
          const last = slice.at(-1)!;
          const hi = last.firstOffset + BigInt(last.lastOffsetDelta);
          // The broker lists the aborted transactions overlapping the returned range, in any order.
          const listed = aborted
            .filter((t) => t.lastOffset >= lo && t.firstOffset <= hi)
            .map(({ producerId, firstOffset }) => ({ producerId, firstOffset }))
            .reverse();
          dropAborted({ abortedTransactions: listed, records: slice });
          const kept = slice.flatMap((x, i) =>
            (x.attributes & CONTROL) !== 0 ? [] : batches[from + i]!.labels.slice(0, x.records.length),
          );
          const want = batches
            .slice(from, to)
            .flatMap((x) => ((x.attributes & CONTROL) !== 0 ? [] : x.labels))
            .filter((l) => committedLabels.has(l));
          assert.deepEqual(kept, want);
          // Offsets are kept: every batch is still there.
          assert.equal(slice.length, to - from);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('drops nothing when the response lists no aborted transaction', () => {
    const batch = {
      attributes: TRANSACTIONAL,
      firstOffset: 0n,
      lastOffsetDelta: 1,
      producerId: 7n,
      records: [{}, {}],
    };
    assert.equal(dropAborted({ abortedTransactions: null, records: [batch] }), 0);
    assert.equal(batch.records.length, 2);
  });
});
