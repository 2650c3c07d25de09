/**
 * The fetch buffer shared by kafkaSource and the Kafka app's partition tasks
 * (src/connectors/kafka/fetched.ts), against a plain array as the model:
 * random pushes, takes, peeks and compactions keep the same order and size.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Message } from '@platformatic/kafka';
import fc from 'fast-check';
import { FetchedRecords } from '../../../src/connectors/kafka/fetched.ts';

const record = (offset: number) => ({ offset: BigInt(offset) }) as unknown as Message;

type Op =
  | { op: 'push'; n: number }
  | { op: 'take' }
  | { op: 'peek' }
  | { op: 'takeMany'; n: number }
  | { op: 'peekMany'; n: number }
  | { op: 'compact' };

const ops = fc.array(
  fc.oneof(
    fc.record({ op: fc.constant('push' as const), n: fc.integer({ min: 1, max: 3000 }) }),
    fc.record({ op: fc.constant('take' as const) }),
    fc.record({ op: fc.constant('peek' as const) }),
    fc.record({ op: fc.constant('takeMany' as const), n: fc.integer({ min: 0, max: 5000 }) }),
    fc.record({ op: fc.constant('peekMany' as const), n: fc.integer({ min: 0, max: 50 }) }),
    fc.record({ op: fc.constant('compact' as const) }),
  ),
  { maxLength: 60 },
);

describe('FetchedRecords', () => {
  it('hands records out in fetch order, whatever the takes and compactions', () => {
    fc.assert(
      fc.property(ops, (list: Op[]) => {
        const q = new FetchedRecords();
        const model: number[] = [];
        let next = 0;
        for (const o of list) {
          switch (o.op) {
            case 'push':
              for (let i = 0; i < o.n; i++) {
                q.push(record(next));
                model.push(next++);
              }
              break;
            case 'take':
              assert.equal(q.take()?.offset, model.length > 0 ? BigInt(model.shift()!) : undefined);
              break;
            case 'peek':
              assert.equal(q.peek()?.offset, model.length > 0 ? BigInt(model[0]!) : undefined);
              break;
            case 'takeMany':
              assert.deepEqual(
                q.takeMany(o.n).map((m) => m.offset),
                model.splice(0, o.n).map(BigInt),
              );
              break;
            case 'peekMany':
              assert.deepEqual(
                q.peekMany(o.n).map((m) => m.offset),
                model.slice(0, o.n).map(BigInt),
              );
              break;
            case 'compact':
              q.compact();
              break;
          }
          assert.equal(q.size, model.length);
        }
      }),
      { numRuns: 200 },
    );
  });
});
