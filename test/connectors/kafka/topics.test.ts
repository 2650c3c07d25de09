/**
 * Record sizes, send splitting and dead-letter cutting (topics.ts), without a
 * broker; oversized.test.ts checks the same against the real broker.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  aloneBytes,
  BATCH_OVERHEAD_BYTES,
  fitsAlone,
  fitToLimit,
  type OutRecord,
  recordBytes,
  splitByLimit,
  TRUNCATED_HEADER,
  truncatedNote,
} from '../../../src/connectors/kafka/topics.ts';

const h = (k: string, v: string | Buffer) =>
  [Buffer.from(k), Buffer.isBuffer(v) ? v : Buffer.from(v)] as const;

describe('record sizes (issue 19, point 9)', () => {
  it('a record alone is sized as the broker counts it: a 1,930-byte value fits a 2,000-byte topic, 1,931 does not', () => {
    assert.equal(aloneBytes({ topic: 't', value: Buffer.alloc(1930) }), 2000);
    assert.ok(fitsAlone({ topic: 't', value: Buffer.alloc(1930) }, 2000));
    assert.ok(!fitsAlone({ topic: 't', value: Buffer.alloc(1931) }, 2000));
    // In a batch of several, a record is counted with its deltas at their largest.
    assert.equal(recordBytes({ topic: 't', value: Buffer.alloc(1930) }), 2000 - BATCH_OVERHEAD_BYTES + 13);
  });

  it('splits sends so that no partition of a send passes its topic limit, keeping order', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({ partition: fc.integer({ min: 0, max: 2 }), size: fc.integer({ min: 0, max: 900 }) }),
          { maxLength: 60 },
        ),
        (specs) => {
          const messages = specs.map((s, i) => ({
            topic: 't',
            partition: s.partition,
            key: Buffer.from(String(i)),
            value: Buffer.alloc(s.size),
          }));
          const sends = splitByLimit(messages, () => 1000);
          assert.deepEqual(sends.flat(), messages, 'every message once, in order');
          for (const send of sends) {
            const per = new Map<number, number>();
            for (const m of send)
              per.set(m.partition, (per.get(m.partition) ?? BATCH_OVERHEAD_BYTES) + recordBytes(m));
            if (send.length > 1) for (const bytes of per.values()) assert.ok(bytes <= 1000, `${bytes} bytes`);
          }
        },
      ),
    );
  });

  it('cuts a dead letter to fit: value first, then key, then headers not eddy’s; says what was cut', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 20_000 }),
        fc.integer({ min: 0, max: 3000 }),
        fc.integer({ min: 0, max: 5 }),
        fc.integer({ min: 600, max: 5000 }),
        (valueSize, keySize, userHeaders, limit) => {
          const headers = new Map<Buffer, Buffer>([
            h('eddy.error.code', 'invalid-json'),
            h('eddy.source.offset', '12'),
          ]);
          for (let i = 0; i < userHeaders; i++) headers.set(...h(`user-${i}`, Buffer.alloc(200)));
          const m: OutRecord = {
            topic: 'dlq',
            key: Buffer.alloc(keySize, 'k'),
            value: Buffer.alloc(valueSize, 'v'),
            headers,
          };
          const out = fitToLimit(m, limit);
          if (fitsAlone(m, limit)) {
            assert.equal(out, m, 'a record that fits is unchanged');
            return;
          }
          assert.ok(fitsAlone(out, limit), `${aloneBytes(out)} bytes for a limit of ${limit}`);
          const names = [...(out.headers ?? new Map()).keys()].map((k) => Buffer.from(k).toString());
          assert.ok(
            names.includes('eddy.error.code') && names.includes('eddy.source.offset'),
            'eddy headers kept',
          );
          const note = truncatedNote(out.headers) ?? '';
          assert.match(note, /^(value:\d+)?(,?key:\d+)?(,?headers:\d+)?$/);
          if (out.value!.length < valueSize) assert.ok(note.includes(`value:${valueSize}`));
          if (out.key!.length < keySize)
            assert.ok(note.includes(`key:${keySize}`), 'the key only after the value');
          if (out.key!.length < keySize) assert.equal(out.value!.length, 0);
        },
      ),
    );
  });

  it('keeps the size of the first cut when a record is cut again on a later hop', () => {
    const first: OutRecord = fitToLimit<OutRecord>({ topic: 'r', value: Buffer.alloc(10_000) }, 3000);
    assert.equal(truncatedNote(first.headers), 'value:10000');
    const again = fitToLimit(
      { ...first, headers: new Map([...first.headers!, h('eddy.error.reason', 'x'.repeat(500))]) },
      2000,
    );
    assert.equal(truncatedNote(again.headers), 'value:10000');
    assert.equal(
      [...again.headers!.keys()].filter((k) => Buffer.from(k).toString() === TRUNCATED_HEADER).length,
      1,
    );
  });
});
