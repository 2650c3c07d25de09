/** The record written to a dead-letter topic (src/connectors/kafka/dead-letters.ts). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  DEAD_LETTER_HEADERS,
  deadLetterMessage,
  MAX_REASON_LENGTH,
} from '../../../src/connectors/kafka/dead-letters.ts';

const text = (headers: unknown, name: string) =>
  [...(headers as Map<Buffer, Buffer>)].find(([k]) => k.toString() === name)?.[1].toString();

describe('deadLetterMessage', () => {
  it('keeps key, value and headers byte for byte and says why and where from', () => {
    fc.assert(
      fc.property(
        fc.option(fc.uint8Array({ maxLength: 32 }), { nil: undefined }),
        fc.option(fc.uint8Array({ maxLength: 64 }), { nil: null }),
        fc.integer({ min: 0, max: 1000 }),
        fc.bigInt({ min: 0n, max: 2n ** 62n }),
        (key, value, partition, offset) => {
          const original = new Map([[Buffer.from('trace'), Buffer.from([0, 255])]]);
          const out = deadLetterMessage('dlq', {
            message: {
              topic: 'orders',
              partition,
              offset,
              timestamp: 1700000000123n,
              key: key === undefined ? (undefined as unknown as Buffer) : Buffer.from(key),
              value: value === null ? (null as unknown as Buffer) : Buffer.from(value),
              headers: original,
            },
            code: 'invalid-json',
            reason: 'JSON parse error: x',
          });
          assert.equal(out.topic, 'dlq');
          assert.deepEqual(
            out.key === undefined ? undefined : [...out.key],
            key === undefined ? undefined : [...key],
          );
          assert.deepEqual(
            out.value === undefined ? null : [...out.value],
            value === null ? null : [...value],
          );
          const trace = [...(out.headers as Map<Buffer, Buffer>)].find(([k]) => k.toString() === 'trace');
          assert.deepEqual(trace?.[1], Buffer.from([0, 255]));
          assert.equal(text(out.headers, DEAD_LETTER_HEADERS.code), 'invalid-json');
          assert.equal(text(out.headers, DEAD_LETTER_HEADERS.reason), 'JSON parse error: x');
          assert.equal(text(out.headers, DEAD_LETTER_HEADERS.topic), 'orders');
          assert.equal(text(out.headers, DEAD_LETTER_HEADERS.partition), String(partition));
          assert.equal(text(out.headers, DEAD_LETTER_HEADERS.offset), String(offset));
          assert.equal(text(out.headers, DEAD_LETTER_HEADERS.timestamp), '1700000000123');
        },
      ),
    );
  });

  it("replaces the input's own eddy.* headers and cuts long reasons", () => {
    const spoofed = new Map([[Buffer.from(DEAD_LETTER_HEADERS.code), Buffer.from('fine')]]);
    const out = deadLetterMessage('dlq', {
      message: {
        topic: 't',
        partition: 0,
        offset: 1n,
        timestamp: 0n,
        key: Buffer.from('k'),
        value: Buffer.from('v'),
        headers: spoofed,
      },
      code: 'too-deep',
      reason: 'x'.repeat(5000),
    });
    const codes = [...(out.headers as Map<Buffer, Buffer>)].filter(
      ([k]) => k.toString() === DEAD_LETTER_HEADERS.code,
    );
    assert.deepEqual(
      codes.map(([, v]) => v.toString()),
      ['too-deep'],
    );
    assert.equal(text(out.headers, DEAD_LETTER_HEADERS.reason)?.length, MAX_REASON_LENGTH);
  });
});
