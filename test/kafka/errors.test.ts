/**
 * Which failures are the brokers being away (waited out for reconnectTimeoutMs) and which repeat
 * (counted against the restart limit): classified on the client's own error classes, built here as
 * the client builds them, so no broker is needed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MultipleErrors, NetworkError, ProtocolError, TimeoutError, UserError } from '@platformatic/kafka';
import { hasKafkaError, isTransientKafkaError } from '../../src/connectors/kafka/errors.ts';
import { EddyError } from '../../src/index.ts';

const protocol = (id: string) => new ProtocolError(id);
const retries = (...errors: Error[]) => new MultipleErrors('produce failed 51 times.', errors);

describe('Kafka failures: transient or not', () => {
  it('connections refused, timeouts and retriable protocol errors are transient', () => {
    assert.equal(isTransientKafkaError(new NetworkError('Connection to 127.0.0.1:19192 failed.')), true);
    assert.equal(isTransientKafkaError(new TimeoutError('Request timed out.')), true);
    for (const id of [
      'CONCURRENT_TRANSACTIONS',
      'COORDINATOR_LOAD_IN_PROGRESS',
      'NOT_COORDINATOR',
      'LEADER_NOT_AVAILABLE',
    ])
      assert.equal(isTransientKafkaError(protocol(id)), true, id);
    // As they arrive: the client's retries, each a response with errors or a refused connection.
    const outage = new MultipleErrors('Producing messages failed.', [
      retries(
        new MultipleErrors('Cannot connect to any broker.', [new NetworkError('Connection failed.')]),
        new MultipleErrors('Received response with error while executing API AddPartitionsToTxn(v5)', [
          protocol('CONCURRENT_TRANSACTIONS'),
        ]),
      ),
    ]);
    assert.equal(isTransientKafkaError(outage), true);
    // Wrapped by eddy as an I/O failure: still transient.
    assert.equal(
      isTransientKafkaError(new EddyError('EDDY_IO_FAILED', 'a commit failed', { cause: outage })),
      true,
    );
  });

  it('refused records, fencing, misconfiguration and user errors are not', () => {
    for (const id of ['MESSAGE_TOO_LARGE', 'INVALID_PRODUCER_EPOCH', 'PRODUCER_FENCED', 'INVALID_TXN_STATE'])
      assert.equal(isTransientKafkaError(protocol(id)), false, id);
    // One lasting error among transient ones decides.
    assert.equal(isTransientKafkaError(retries(new NetworkError('x'), protocol('MESSAGE_TOO_LARGE'))), false);
    const network = new NetworkError('x');
    assert.equal(
      isTransientKafkaError(new EddyError('EDDY_CONFIG_INVALID', 'bad', { cause: network })),
      false,
    );
    assert.equal(isTransientKafkaError(new UserError('a callback threw')), false);
    assert.equal(isTransientKafkaError(new Error('boom')), false);
    assert.equal(isTransientKafkaError(new MultipleErrors('none', [])), false);
    assert.equal(isTransientKafkaError(undefined), false);
    assert.equal(isTransientKafkaError('text'), false);
  });

  it('hasKafkaError finds a protocol error by its name anywhere in the chain', () => {
    const e = retries(new NetworkError('x'), protocol('UNSTABLE_OFFSET_COMMIT'));
    assert.equal(hasKafkaError(e, 'UNSTABLE_OFFSET_COMMIT'), true);
    assert.equal(hasKafkaError(e, 'MESSAGE_TOO_LARGE'), false);
    assert.equal(hasKafkaError(new Error('UNSTABLE_OFFSET_COMMIT'), 'UNSTABLE_OFFSET_COMMIT'), false);
  });
});
