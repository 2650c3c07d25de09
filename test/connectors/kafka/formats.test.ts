/**
 * Kafka value formats (src/connectors/kafka/formats.ts, schema-registry.ts, codec/avro.ts): schema-registry framing as properties,
 * Avro decoding of hostile frames, and the registry client against a stand-in registry.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  avroFormat,
  bytesFormat,
  jsonFormat,
  KAFKA_DECODE_FAILURES,
  resolveFormat,
  stringFormat,
} from '../../../src/connectors/kafka/formats.ts';
import {
  FRAME_HEADER_BYTES,
  frameSchemaRegistry,
  unframeSchemaRegistry,
} from '../../../src/connectors/kafka/schema-registry.ts';
import { EddyError } from '../../../src/errors/index.ts';

const ORDER = {
  type: 'record',
  name: 'Order',
  namespace: 'shop',
  fields: [
    { name: 'id', type: 'long' },
    { name: 'customer', type: 'string' },
    { name: 'amount', type: 'double' },
    { name: 'tags', type: { type: 'map', values: 'int' } },
    { name: 'note', type: ['null', 'string'], default: null },
    {
      name: 'lines',
      type: {
        type: 'array',
        items: {
          type: 'record',
          name: 'Line',
          fields: [
            { name: 'sku', type: 'string' },
            { name: 'qty', type: 'int' },
          ],
        },
      },
    },
  ],
};
const LIST = {
  type: 'record',
  name: 'Node',
  fields: [
    { name: 'v', type: 'int' },
    { name: 'next', type: ['null', 'Node'] },
  ],
};

const order = fc.record(
  {
    id: fc.maxSafeInteger(),
    customer: fc.string(),
    amount: fc.double({ noNaN: true }),
    // Keys other than the three forbidden ones (tested separately).
    tags: fc.dictionary(
      fc.string().filter((k) => !['__proto__', 'constructor', 'prototype'].includes(k)),
      fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
      { noNullPrototype: true },
    ),
    note: fc.option(fc.string(), { nil: null }),
    lines: fc.array(
      fc.record({ sku: fc.string(), qty: fc.integer({ min: 0, max: 1000 }) }, { noNullPrototype: true }),
      { maxLength: 5 },
    ),
  },
  { noNullPrototype: true },
);

/** Every object in a decoded value is a plain object, an array or a Buffer. */
function plain(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return true;
  if (Buffer.isBuffer(v)) return true;
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== Array.prototype) return false;
  return Object.values(v).every(plain);
}

describe('schema-registry framing', () => {
  it('frame then unframe gives back the id and the payload', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0x7fffffff }),
        fc.uint8Array({ maxLength: 64 }),
        (id, payload) => {
          const frame = frameSchemaRegistry(id, payload);
          assert.equal(frame.length, FRAME_HEADER_BYTES + payload.length);
          assert.equal(frame[0], 0);
          const r = unframeSchemaRegistry(frame);
          assert.ok(r.ok);
          assert.equal(r.schemaId, id);
          assert.deepEqual([...r.payload], [...payload]);
        },
      ),
    );
  });

  it('rejects a wrong magic byte and frames shorter than the header', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 255 }), fc.uint8Array({ maxLength: 16 }), (magic, rest) => {
        const r = unframeSchemaRegistry(Uint8Array.from([magic, ...rest]));
        assert.ok(!r.ok);
        assert.equal(r.code, 'wrong-magic-byte');
      }),
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3 }), (rest) => {
        const r = unframeSchemaRegistry(Uint8Array.from([0, ...rest]));
        assert.ok(!r.ok);
        assert.equal(r.code, 'truncated');
      }),
    );
    assert.equal((unframeSchemaRegistry(new Uint8Array()) as { code: string }).code, 'truncated');
    assert.match(
      (unframeSchemaRegistry(Buffer.from('{"a":1}')) as { reason: string }).reason,
      /0x7b.*looks like JSON/,
    );
  });

  it('refuses ids outside 0..2^31-1', () => {
    assert.throws(() => frameSchemaRegistry(-1, new Uint8Array()), EddyError);
    assert.throws(() => frameSchemaRegistry(2 ** 31, new Uint8Array()), EddyError);
  });
});

describe('avroFormat with static schemas', () => {
  const f = avroFormat({ schemas: { 1: JSON.stringify(ORDER), 2: LIST } });

  it('round-trips records as plain objects', () => {
    fc.assert(
      fc.property(order, (o) => {
        const r = f.decode(f.encode(1, o));
        assert.ok(r.ok, JSON.stringify(r));
        assert.deepEqual(r.value, o);
        assert.ok(plain(r.value));
      }),
    );
  });

  it('rejects every strict prefix as truncated and any extra byte as trailing', () => {
    fc.assert(
      fc.property(order, fc.uint8Array({ minLength: 1, maxLength: 8 }), (o, extra) => {
        const frame = f.encode(1, o);
        for (let n = FRAME_HEADER_BYTES; n < frame.length; n++) {
          const r = f.decode(frame.subarray(0, n));
          assert.ok(!r.ok && r.code === 'truncated', `prefix ${n}/${frame.length}: ${JSON.stringify(r)}`);
        }
        const r = f.decode(Buffer.concat([frame, extra]));
        assert.ok(!r.ok);
        assert.equal(r.code, 'trailing-bytes');
      }),
      { numRuns: 50 },
    );
  });

  it('never throws on arbitrary bytes, and whatever decodes is plain', () => {
    const known = new Set<string>(KAFKA_DECODE_FAILURES);
    fc.assert(
      fc.property(fc.constantFrom(1, 2, 3), fc.uint8Array({ maxLength: 48 }), (id, body) => {
        const r = f.decode(frameSchemaRegistry(id, body));
        if (r.ok) assert.ok(plain(r.value));
        else assert.ok(known.has(r.code), r.code);
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses forbidden map keys instead of writing them onto an object', () => {
    for (const key of ['__proto__', 'constructor', 'prototype']) {
      const tags = JSON.parse(`{${JSON.stringify(key)}: 1}`) as Record<string, number>;
      const frame = f.encode(1, { id: 1, customer: 'c', amount: 1, tags, note: null, lines: [] });
      const r = f.decode(frame);
      assert.ok(!r.ok);
      assert.equal(r.code, 'forbidden-key');
      assert.match(r.reason, new RegExp(`map key "${key}"`));
    }
    assert.equal(({} as { admin?: unknown }).admin, undefined);
  });

  it('refuses schemas with forbidden names or zero-byte array items', () => {
    for (const name of ['__proto__', 'constructor', 'prototype']) {
      assert.throws(
        () => avroFormat({ schemas: { 1: { type: 'record', name: 'R', fields: [{ name, type: 'int' }] } } }),
        /forbidden/,
      );
    }
    assert.throws(() => avroFormat({ schemas: { 1: { type: 'array', items: 'null' } } }), /zero bytes/);
    assert.throws(
      () =>
        avroFormat({ schemas: { 1: { type: 'array', items: { type: 'record', name: 'E', fields: [] } } } }),
      /zero bytes/,
    );
    assert.throws(() => avroFormat({ schemas: { 1: '{"type": "nope"}' } }), EddyError);
    assert.throws(() => avroFormat({ schemas: { 1: '{"type":"record","__proto__":{}}' } }), /forbidden/);
  });

  it('bounds nesting of recursive schemas by maxDepth, and survives a frame deeper than the stack', () => {
    const shallow = avroFormat({ schemas: { 2: LIST }, limits: { maxDepth: 8 } });
    let list: { v: number; next: unknown } | null = null;
    for (let i = 0; i < 8; i++) list = { v: i, next: list };
    assert.ok(shallow.decode(shallow.encode(2, list)).ok);
    list = { v: 8, next: list };
    const r = shallow.decode(shallow.encode(2, list));
    assert.ok(!r.ok && r.code === 'too-deep', JSON.stringify(r));
    // 300,000 levels in 600 KB: each is v=0 and branch 1, then null ends it.
    const body = Buffer.alloc(300_000 * 2 + 2);
    for (let i = 0; i < 300_000; i++) body[i * 2 + 1] = 2;
    const deep = f.decode(frameSchemaRegistry(2, body));
    assert.ok(!deep.ok && deep.code === 'too-deep', JSON.stringify(deep));
  });

  // avsc loops over an array block's claimed count: 2^40 longs in a 7-byte body would run for hours.
  it('refuses block counts larger than the bytes left, at once', () => {
    const g = avroFormat({
      schemas: { 3: { type: 'array', items: 'long' }, 4: { type: 'map', values: 'int' } },
    });
    const varint = (n: number) => {
      const out: number[] = [];
      let z = n * 2;
      while (z >= 128) {
        out.push((z % 128) | 128);
        z = Math.floor(z / 128);
      }
      out.push(z);
      return out;
    };
    for (const id of [3, 4]) {
      const started = performance.now();
      const r = g.decode(frameSchemaRegistry(id, Uint8Array.from([...varint(2 ** 40), 0])));
      assert.ok(
        !r.ok && r.code === 'truncated' && /claims 1099511627776 items/.test(r.reason),
        JSON.stringify(r),
      );
      assert.ok(performance.now() - started < 50);
    }
    const nested = avroFormat({ schemas: { 1: ORDER }, limits: { maxDepth: 1 } });
    const o = { id: 1, customer: 'c', amount: 1, tags: {}, note: null, lines: [] };
    const r = nested.decode(f.encode(1, o));
    assert.ok(!r.ok && r.code === 'too-deep', JSON.stringify(r));
  });

  it('names unknown ids, bad values and oversized frames', () => {
    assert.deepEqual(f.decode(frameSchemaRegistry(9, Uint8Array.from([2]))), {
      ok: false,
      code: 'unknown-schema-id',
      reason: "schema id 9 is not in the format's schemas and no registry is set",
    });
    // A union branch index that does not exist.
    const bad = f.decode(frameSchemaRegistry(2, Uint8Array.from([2, 8])));
    assert.ok(!bad.ok && bad.code === 'invalid-avro', JSON.stringify(bad));
    const small = avroFormat({ schemas: { 1: ORDER }, limits: { maxBytes: 8 } });
    const big = small.decode(frameSchemaRegistry(1, new Uint8Array(10)));
    assert.ok(!big.ok && big.code === 'too-large');
    // A long beyond 2^53 would lose precision: a failure, not a rounded number.
    const longs = avroFormat({ schemas: { 4: '"long"' } });
    const beyond = Uint8Array.from([0x82, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20]); // zig-zag of 2^53+1
    const huge = longs.decode(frameSchemaRegistry(4, beyond));
    assert.ok(!huge.ok && huge.code === 'invalid-avro' && /beyond/.test(huge.reason), JSON.stringify(huge));
  });

  // avsc's own long type rounds through a double: -(2^52)-1 came back as 2^52 (found by the property above).
  it('reads every safe long exactly, and any 64-bit long as a bigint', () => {
    const numbers = avroFormat({
      schemas: { 4: '"long"', 5: { type: 'long', logicalType: 'timestamp-millis' } },
    });
    const bigints = avroFormat({ schemas: { 4: '"long"' }, longs: 'bigint' });
    for (const n of [0, -1, 2 ** 52, -(2 ** 52) - 1, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER]) {
      assert.deepEqual(numbers.decode(numbers.encode(4, n)), { ok: true, value: n });
      assert.deepEqual(numbers.decode(numbers.encode(5, n)), { ok: true, value: n });
    }
    fc.assert(
      fc.property(fc.maxSafeInteger(), (n) => {
        assert.deepEqual(numbers.decode(numbers.encode(4, n)), { ok: true, value: n });
      }),
    );
    fc.assert(
      fc.property(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), (n) => {
        assert.deepEqual(bigints.decode(bigints.encode(4, n)), { ok: true, value: n });
      }),
    );
  });

  it('accepts map and record defaults written as JSON', () => {
    const g = avroFormat({
      schemas: {
        1: {
          type: 'record',
          name: 'D',
          fields: [
            { name: 'm', type: { type: 'map', values: 'int' }, default: { a: 1 } },
            {
              name: 'r',
              type: { type: 'record', name: 'In', fields: [{ name: 'x', type: 'int' }] },
              default: { x: 2 },
            },
          ],
        },
      },
    });
    assert.deepEqual(g.decode(g.encode(1, { m: { b: 2 }, r: { x: 3 } })), {
      ok: true,
      value: { m: { b: 2 }, r: { x: 3 } },
    });
    assert.deepEqual(g.decode(g.encode(1, {})), { ok: true, value: { m: { a: 1 }, r: { x: 2 } } });
  });

  it('checks its options', () => {
    assert.throws(() => avroFormat({}), /needs schemas or a registry/);
    assert.throws(() => avroFormat({ registry: { url: 'ftp://x' } }), /http\(s\) URL/);
    assert.throws(() => avroFormat({ registry: { url: 'http://x', timeoutMs: 0 } }), /timeoutMs/);
    assert.throws(() => avroFormat({ schemas: { [-1]: '"int"' } }), /keyed by schema id/);
    assert.throws(() => f.encode(3, 1), /no schema 3/);
  });
});

describe('the other formats', () => {
  it('json is the safe codec, string is strict UTF-8, bytes are as given', () => {
    assert.deepEqual(jsonFormat().decode(Buffer.from('{"a":[1]}')), { ok: true, value: { a: [1] } });
    const proto = jsonFormat().decode(Buffer.from('{"__proto__":{"admin":true}}'));
    assert.ok(!proto.ok && proto.code === 'forbidden-key');
    const deep = jsonFormat({ maxDepth: 2 }).decode(Buffer.from('[[[1]]]'));
    assert.ok(!deep.ok && deep.code === 'too-deep');
    assert.ok(!jsonFormat().decode(null).ok);
    assert.deepEqual(stringFormat().decode(Buffer.from('héllo')), { ok: true, value: 'héllo' });
    assert.deepEqual(stringFormat().decode(null), { ok: true, value: '' });
    const bad = stringFormat().decode(Uint8Array.from([0x61, 0xff]));
    assert.ok(!bad.ok && bad.code === 'invalid-utf8');
    assert.ok(!stringFormat({ maxBytes: 2 }).decode(Buffer.from('abc')).ok);
    const raw = Buffer.from([1, 2, 3]);
    assert.equal((bytesFormat().decode(raw) as { value: unknown }).value, raw);
    assert.equal(resolveFormat('bytes').name, 'bytes');
    assert.equal(resolveFormat(undefined).name, 'json');
    assert.throws(() => resolveFormat('xml' as 'json'), EddyError);
  });
});

// There is no schema-registry server on this machine (Confluent's is not on Maven Central), so this
// stands in for one: it implements only GET /schemas/ids/{id}, the call the format makes.
describe('avroFormat with a registry', () => {
  async function registry(
    answer: (id: number) => { status: number; body?: unknown; delayMs?: number },
  ): Promise<{ url: string; server: Server; requests: Map<number, number> }> {
    const requests = new Map<number, number>();
    const server = createServer((req, res) => {
      const m = /^\/schemas\/ids\/(\d+)$/.exec(req.url ?? '');
      if (req.method !== 'GET' || m === null) {
        res.writeHead(404).end();
        return;
      }
      const id = Number(m[1]);
      requests.set(id, (requests.get(id) ?? 0) + 1);
      const a = answer(id);
      const send = () => {
        if (res.destroyed) return;
        res.writeHead(a.status, { 'content-type': 'application/vnd.schemaregistry.v1+json' });
        res.end(a.body === undefined ? '' : JSON.stringify(a.body));
      };
      if (a.delayMs === undefined) send();
      else setTimeout(send, a.delayMs).unref();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return { url: `http://127.0.0.1:${port}/`, server, requests };
  }

  it('fetches each schema once, and turns every kind of failure into a reason', async () => {
    const reg = await registry((id) => {
      if (id === 1) return { status: 200, body: { schema: JSON.stringify(ORDER) } };
      if (id === 5) return { status: 200, body: { schema: '"int"' }, delayMs: 2000 };
      if (id === 6) return { status: 503, body: { error_code: 50301 } };
      if (id === 7) return { status: 200, body: { schema: 'syntax = "proto3";', schemaType: 'PROTOBUF' } };
      if (id === 8) return { status: 200, body: { schema: '{"type":"array","items":"null"}' } };
      return { status: 404, body: { error_code: 40403, message: 'Schema not found' } };
    });
    try {
      const f = avroFormat({ registry: { url: reg.url, timeoutMs: 300 }, retryAfterMs: 60_000 });
      const writer = avroFormat({ schemas: { 1: ORDER } });
      const o = {
        id: 7,
        customer: 'c1',
        amount: 2.5,
        tags: { a: 1 },
        note: 'n',
        lines: [{ sku: 's', qty: 2 }],
      };
      const good = writer.encode(1, o);
      const frames = [
        good,
        good,
        ...[5, 6, 7, 8, 9].map((id) => frameSchemaRegistry(id, Uint8Array.from([0]))),
      ];
      const started = Date.now();
      // Two batches at once: still one request per id.
      await Promise.all([f.prepare!(frames), f.prepare!(frames)]);
      assert.ok(Date.now() - started < 1500, 'the slow schema is bounded by timeoutMs');
      assert.deepEqual(f.decode(good), { ok: true, value: o });
      const codes = frames.slice(2).map((b) => {
        const r = f.decode(b);
        return r.ok ? 'ok' : `${r.code}: ${r.reason}`;
      });
      assert.match(codes[0]!, /^schema-fetch-failed: .*did not answer within 300 ms/);
      assert.match(codes[1]!, /^schema-fetch-failed: .*HTTP 503/);
      assert.match(codes[2]!, /^invalid-schema: schema id 7 is PROTOBUF/);
      assert.match(codes[3]!, /^invalid-schema: .*zero bytes/);
      assert.match(codes[4]!, /^unknown-schema-id: schema id 9 is not in the registry/);
      for (const id of [1, 5, 6, 7, 8, 9]) assert.equal(reg.requests.get(id), 1, `requests for id ${id}`);
      // Cached, failures included (for retryAfterMs): no new requests.
      await f.prepare!(frames);
      assert.equal(
        [...reg.requests.values()].reduce((a, b) => a + b, 0),
        6,
      );
      assert.deepEqual(await f.schema(1), { ok: true, value: JSON.parse(JSON.stringify(ORDER)) });
    } finally {
      reg.server.closeAllConnections();
      reg.server.close();
    }
  });

  it('asks again after retryAfterMs, and reports a registry that is down', async () => {
    let up = false;
    const reg = await registry(() => (up ? { status: 200, body: { schema: '"string"' } } : { status: 500 }));
    const frame = frameSchemaRegistry(3, Buffer.from([4, 0x68, 0x69]));
    try {
      const f = avroFormat({ registry: { url: reg.url }, retryAfterMs: 50 });
      await f.prepare!([frame]);
      assert.equal((f.decode(frame) as { code?: string }).code, 'schema-fetch-failed');
      up = true;
      await f.prepare!([frame]);
      assert.equal((f.decode(frame) as { code?: string }).code, 'schema-fetch-failed', 'still cached');
      await new Promise((r) => setTimeout(r, 60));
      await f.prepare!([frame]);
      assert.deepEqual(f.decode(frame), { ok: true, value: 'hi' });
    } finally {
      reg.server.closeAllConnections();
      reg.server.close();
    }
    const down = avroFormat({ registry: { url: reg.url, timeoutMs: 500 } });
    await down.prepare!([frameSchemaRegistry(4, new Uint8Array())]);
    const r = down.decode(frameSchemaRegistry(4, new Uint8Array()));
    assert.ok(!r.ok && r.code === 'schema-fetch-failed', JSON.stringify(r));
  });
});
