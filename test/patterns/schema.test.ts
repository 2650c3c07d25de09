/**
 * Schema-validated events (src/codec/json-schema.ts): a JSON Schema compiled
 * once and used as a source's `parse` and as a `map` step. Against the real
 * PostgreSQL (jsonb payloads, parsed by the driver with plain JSON.parse, so
 * a `__proto__` key arrives as an own key): invalid rows dead-lettered with
 * the instance path in the reason, valid ones unchanged, `__proto__` never
 * reaching an output; and the same in-process with seeded random records.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Ajv } from 'ajv';
import { jsonSchema } from '../../src/codec/json-schema.ts';
import { postgresSource } from '../../src/connectors/postgres/index.ts';
import { arraySource, collectSink, type DeadLetter, EddyError, Pipeline } from '../../src/index.ts';
import { Random } from '../../src/util/random.ts';
import { postgresSkip, scratchDb } from '../connectors/postgres/helpers.ts';

interface Order {
  readonly id: string;
  readonly qty: number;
  readonly items?: { sku: string; n: number }[];
}

const ORDER = {
  type: 'object',
  required: ['id', 'qty'],
  additionalProperties: false,
  properties: {
    id: { type: 'string', minLength: 1 },
    qty: { type: 'integer', minimum: 1 },
    items: {
      type: 'array',
      items: {
        type: 'object',
        required: ['sku', 'n'],
        properties: { sku: { type: 'string' }, n: { type: 'integer', minimum: 1 } },
      },
    },
  },
} as const;

describe('jsonSchema', () => {
  const order = jsonSchema<Order>(ORDER, { name: 'order' });

  it('passes valid records unchanged (the same object) and refuses invalid ones with the instance path', () => {
    const ok = { id: 'a', qty: 2, items: [{ sku: 'x', n: 1 }] };
    const copy = structuredClone(ok);
    assert.equal(order(ok), ok);
    assert.deepEqual(ok, copy);
    const cases: [unknown, string][] = [
      [{ id: 'a', qty: 0 }, 'at /qty: must be >= 1'],
      [{ id: 'a' }, "at /: must have required property 'qty'"],
      [{ id: 'a', qty: 1, extra: true }, 'at /: must not have property "extra"'],
      [
        {
          id: 'a',
          qty: 1,
          items: [
            { sku: 'x', n: 1 },
            { sku: 'y', n: 'two' },
          ],
        },
        'at /items/1/n: must be integer',
      ],
      ['text', 'at /: must be object'],
    ];
    for (const [value, reason] of cases) {
      const r = order.check(value);
      assert.equal(r.ok, false);
      assert.ok(!r.ok && r.reason.includes(reason), `${JSON.stringify(value)}: ${!r.ok && r.reason}`);
      assert.throws(
        () => order(value),
        (e: unknown) =>
          e instanceof EddyError && e.code === 'EDDY_DECODE_FAILED' && e.message.includes(reason),
      );
    }
    assert.deepEqual(order.check({ id: 'a' }), {
      ok: false,
      path: '/qty',
      reason: `schema "order" refused the record at /: must have required property 'qty'`,
    });
  });

  it('refuses __proto__, constructor and prototype keys at any depth, before ajv sees them', () => {
    const open = jsonSchema<unknown>({ type: 'object' }, { name: 'open' });
    for (const [text, path] of [
      ['{"__proto__":{"polluted":1}}', '/__proto__'],
      ['{"a":[{"b":{"constructor":{"prototype":1}}}]}', '/a/0/b/constructor'],
      ['{"x":{"prototype":{}}}', '/x/prototype'],
    ] as const) {
      const r = open.check(JSON.parse(text));
      assert.ok(!r.ok && r.path === path && r.reason.includes('forbidden'), `${text}: ${JSON.stringify(r)}`);
    }
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
    let deep: unknown = 1;
    for (let i = 0; i < 100; i++) deep = { d: deep };
    assert.ok(!open.check(deep).ok);
    assert.throws(
      () => jsonSchema(JSON.parse('{"type":"object","properties":{"__proto__":{"type":"string"}}}')),
      /forbidden property at \/properties\/__proto__/,
    );
  });

  it('compiles once per schema and ajv; bad schemas and options are named', () => {
    const ajv = new Ajv();
    let compiles = 0;
    const compile = ajv.compile.bind(ajv);
    ajv.compile = ((s: never) => {
      compiles++;
      return compile(s);
    }) as typeof ajv.compile;
    const schema = { type: 'object', properties: { n: { type: 'number' } } };
    const a = jsonSchema(schema, { ajv });
    const b = jsonSchema<{ n: number }>(schema, { ajv });
    for (let i = 0; i < 1000; i++) a({ n: i });
    assert.equal(b({ n: 1 }).n, 1);
    assert.equal(compiles, 1);
    assert.throws(() => jsonSchema({ type: 'objekt' }), /does not compile/);
    assert.throws(() => jsonSchema({ type: 'string', format: 'email' }), /does not compile/);
    assert.throws(() => jsonSchema(null as never), EddyError);
    assert.throws(() => jsonSchema({}, { maxErrors: 0 }), /maxErrors/);
    const all = jsonSchema(ORDER, { maxErrors: 5 });
    const r = all.check({ qty: -1, extra: 1 });
    assert.ok(!r.ok && r.reason.split(';').length === 3, JSON.stringify(r));
  });

  it('as a map step over seeded random records: exactly the valid ones pass unchanged, the rest are dead-lettered with their path', async () => {
    const random = new Random(16);
    const records: unknown[] = [];
    for (let i = 0; i < 2000; i++) {
      const k = random.int(6);
      records.push(
        k === 0
          ? { id: `o${i}`, qty: 0 }
          : k === 1
            ? JSON.parse(`{"id":"o${i}","qty":1,"__proto__":{"admin":true}}`)
            : k === 2
              ? { id: `o${i}`, qty: 1, items: [{ sku: 's', n: -random.int(3) }] }
              : {
                  id: `o${i}`,
                  qty: 1 + random.int(9),
                  items: [{ sku: `s${random.int(5)}`, n: 1 + random.int(3) }],
                },
      );
    }
    const expected = records.filter((r) => order.check(r).ok);
    const p = new Pipeline();
    const out = collectSink<Order>();
    const dead = collectSink<DeadLetter>();
    p.source('orders', arraySource(records)).map(order, 'validate').sink(out);
    p.deadLetters().sink(dead);
    await p.run();
    assert.deepEqual(out.values, expected);
    assert.equal(out.values.length + dead.values.length, records.length);
    for (const v of out.values) assert.equal(Object.hasOwn(v, '__proto__'), false);
    for (const d of dead.values) {
      assert.equal(d.step, 'validate');
      assert.match(d.reason, /schema "order" refused the record at \/(qty|__proto__|items\/0\/n)/);
    }
  });
});

const skip = await postgresSkip();

describe('jsonSchema as postgresSource parse', { skip, timeout: 120_000 }, () => {
  it('invalid jsonb rows are dead-lettered with the instance path; valid rows pass unchanged; __proto__ never reaches an output', async () => {
    const db = await scratchDb('schema');
    try {
      await db.query('CREATE TABLE events (id bigint PRIMARY KEY, payload jsonb NOT NULL)');
      const rows: [number, string][] = [
        [1, '{"id":"a","qty":2}'],
        [2, '{"id":"b","qty":0}'],
        [3, '{"id":"c","qty":1,"__proto__":{"isAdmin":true}}'],
        [4, '{"id":"d","qty":3,"items":[{"sku":"x","n":1},{"sku":"y"}]}'],
        [5, '{"id":"e","qty":1,"items":[{"sku":"x","n":2}]}'],
      ];
      for (const [id, payload] of rows) await db.query('INSERT INTO events VALUES ($1, $2)', [id, payload]);
      const order = jsonSchema<Order>(ORDER, { name: 'order' });
      const p = new Pipeline();
      const out = collectSink<Order>();
      const dead = collectSink<DeadLetter>();
      p.source(
        'events',
        postgresSource<Order>({
          connectionString: db.url,
          table: 'events',
          orderBy: ['id'],
          parse: (row) => order(row['payload']),
        }),
      ).sink(out);
      p.deadLetters().sink(dead);
      await p.run();
      assert.deepEqual(out.values, [
        { id: 'a', qty: 2 },
        { id: 'e', qty: 1, items: [{ sku: 'x', n: 2 }] },
      ]);
      const reasons = dead.values.map((d) => d.reason);
      assert.equal(reasons.length, 3);
      assert.match(reasons[0]!, /at \/qty: must be >= 1/);
      assert.match(reasons[1]!, /at \/__proto__: the key is forbidden/);
      assert.match(reasons[2]!, /at \/items\/1: must have required property 'n'/);
      for (const v of out.values) Object.assign({}, v);
      assert.equal(({} as Record<string, unknown>)['isAdmin'], undefined);
    } finally {
      await db.drop();
    }
  });
});
