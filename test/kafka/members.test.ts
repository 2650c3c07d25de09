/**
 * What an instance of a Kafka application tells the others through the
 * consumer group (issue 17): its name and endpoint, checked when given and
 * read back as untrusted input — bounded, no keys reaching objects, only
 * http(s) URLs without credentials.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkEndpoint, memberData, readMemberData } from '../../src/connectors/kafka/members.ts';
import { kafkaApp } from '../../src/deploy/kafka/index.ts';
import { EddyError } from '../../src/index.ts';

describe('Kafka application members', () => {
  it('an endpoint is an http(s) URL without credentials, query or fragment; a bad one names itself and the fix', () => {
    assert.equal(checkEndpoint('http://10.0.0.5:9464/'), 'http://10.0.0.5:9464');
    assert.equal(checkEndpoint('https://eddy.example/app'), 'https://eddy.example/app');
    assert.equal(checkEndpoint(undefined), undefined);
    for (const bad of ['ftp://x', 'not a url', 'http://u:p@x:1', 'http://x:1/?a=1', 'http://x:1/#a', 42]) {
      assert.throws(
        () => kafkaApp({ applicationId: 'a', endpoint: bad as string }),
        (e: unknown) =>
          e instanceof EddyError &&
          e.code === 'EDDY_CONFIG_INVALID' &&
          e.message.includes('kafkaApp endpoint') &&
          e.message.includes('endpoint: "http://10.0.0.5:9464"'),
        String(bad),
      );
    }
  });

  it('user data round-trips, and what eddy did not write is ignored', () => {
    assert.deepEqual(readMemberData(memberData('a', 'http://127.0.0.1:1')), {
      instance: 'a',
      endpoint: 'http://127.0.0.1:1',
    });
    assert.deepEqual(readMemberData(memberData('a', undefined)), { instance: 'a' });
    // Another client's bytes, a Java consumer's empty data, JSON that is not an object.
    for (const data of [
      Buffer.from([0, 1, 2]),
      Buffer.alloc(0),
      Buffer.from('[1]'),
      Buffer.from('null'),
      'x',
    ])
      assert.deepEqual(readMemberData(data), {});
    // An endpoint eddy would refuse is dropped; the name stays.
    assert.deepEqual(readMemberData(Buffer.from('{"instance":"b","endpoint":"javascript:alert(1)"}')), {
      instance: 'b',
    });
    // Keys such as __proto__ never reach an object: only the two fields are read.
    const hostile = readMemberData(Buffer.from('{"__proto__":{"polluted":1},"instance":"c"}'));
    assert.deepEqual(hostile, { instance: 'c' });
    assert.equal(({} as { polluted?: number }).polluted, undefined);
    // Bounded: more than 64 KiB is not read.
    assert.deepEqual(
      readMemberData(Buffer.from(JSON.stringify({ instance: 'd', pad: 'x'.repeat(70_000) }))),
      {},
    );
    // Loads: pairs of a partition and a finite number ≥ 0; anything else is dropped.
    assert.deepEqual(
      readMemberData(
        Buffer.from('{"instance":"e","load":[["t:0",5],["t:1",-1],["t:2","x"],[3,1],"t:4",["t:5",2,3]]}'),
      ).load,
      new Map([['t:0', 5]]),
    );
  });
});
