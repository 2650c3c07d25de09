/**
 * The HTTP ingest source on 127.0.0.1 (ephemeral ports): every accepted
 * record arrives exactly as sent (JSON, JSON arrays, NDJSON), the limits
 * answer 413 and 400 with the reason, `__proto__`/`constructor` payloads
 * never reach an object, a token is required when set (401), a full queue
 * behind a slow sink answers 429 with Retry-After and 202 means queued,
 * misconfiguration fails fast naming the value and the fix.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { httpSource } from '../../../src/connectors/http/index.ts';
import type { Sink } from '../../../src/core/connector.ts';
import { collectSink, EddyError, Pipeline } from '../../../src/index.ts';
import { waitUntil } from '../broker-service.ts';
import { post, postChunked } from './helpers.ts';

interface Rec {
  readonly id: number;
  readonly name: string;
  readonly tags: readonly string[];
  readonly nested: { readonly a: { readonly b: number | null } };
}

const records = (n: number, from = 0): Rec[] =>
  Array.from({ length: n }, (_, i) => ({
    id: from + i,
    name: `ünïcødé ${from + i} "quoted" \n line ✓ 😀`,
    tags: ['x', String(i % 7)],
    nested: { a: { b: i % 3 === 0 ? null : i * 1.5 } },
  }));
const byId = <R extends { id: number }>(values: readonly R[]) => [...values].sort((a, b) => a.id - b.id);
const ndjson = (rs: readonly unknown[]) => `${rs.map((r) => JSON.stringify(r)).join('\r\n')}\n\n`;
const TOKEN = 'h5-test-token-0123456789';

async function started<T>(source: ReturnType<typeof httpSource<T>>, sink: Sink<T>) {
  const p = new Pipeline({ name: 'http-ingest', batchSize: 10 });
  p.source('in', source).sink(sink);
  const running = await p.start({ restart: false, parallelism: 1 });
  const { url } = await source.listening();
  return {
    url,
    async stop() {
      running.stop();
      await running.done;
    },
  };
}

describe('HTTP ingest source', () => {
  it('every accepted record arrives exactly as sent: JSON, JSON arrays and NDJSON; 202 counts them', async () => {
    const source = httpSource<Rec>({ port: 0 });
    assert.equal(source.replayable, false);
    const out = collectSink<Rec>();
    const run = await started(source, out);
    try {
      const input = records(500);
      const one = await post(run.url, 'application/json', JSON.stringify(input[0]));
      assert.deepEqual([one.status, one.body], [202, { accepted: 1 }]);
      const array = await post(
        run.url,
        'application/json; charset=utf-8',
        JSON.stringify(input.slice(1, 200)),
      );
      assert.deepEqual([array.status, array.body], [202, { accepted: 199 }]);
      const lines = await post(run.url, 'application/x-ndjson', ndjson(input.slice(200)));
      assert.deepEqual([lines.status, lines.body], [202, { accepted: 300 }]);
      await waitUntil('500 records arrive', () => out.values.length >= 500);
      assert.deepEqual(byId(out.values), input);
      assert.equal(source.stats().accepted, 500);
    } finally {
      await run.stop();
    }
  });

  it('limits: 413 beyond maxBodyBytes (declared or streamed), 400 with the reason for nesting, size and bad JSON', async () => {
    const source = httpSource<unknown>({
      port: 0,
      maxBodyBytes: 4096,
      limits: { maxDepth: 3, maxBytes: 1000 },
    });
    const out = collectSink<unknown>();
    const run = await started(source, out);
    try {
      const big = await post(run.url, 'application/json', JSON.stringify({ s: 'x'.repeat(5000) }));
      assert.equal(big.status, 413);
      assert.match(big.body.error ?? '', /body is \d+ bytes; the limit is 4096 \(maxBodyBytes\)/);
      assert.equal(await postChunked(run.url, 200_000), 413);
      const deep = await post(run.url, 'application/json', '{"a":{"b":{"c":{"d":1}}}}');
      assert.equal(deep.status, 400);
      assert.match(deep.body.error ?? '', /^too-deep: nesting depth 4 exceeds maxDepth 3/);
      // The array of a batch is one level of its own: records in it may nest maxDepth deep.
      const batch = await post(run.url, 'application/json', '[{"a":{"b":{"c":1}}},{"a":{"b":{"c":2}}}]');
      assert.deepEqual([batch.status, batch.body], [202, { accepted: 2 }]);
      const line = await post(run.url, 'application/x-ndjson', `{"ok":1}\n{"s":"${'y'.repeat(1200)}"}\n`);
      assert.equal(line.status, 400);
      assert.match(line.body.error ?? '', /^line 2: too-large: record is \d+ bytes; maxBytes is 1000/);
      const bad = await post(run.url, 'application/json', '{"a":');
      assert.equal(bad.status, 400);
      assert.match(bad.body.error ?? '', /^invalid-json: /);
      const utf8 = await post(run.url, 'application/json', Buffer.from([0x22, 0xff, 0x22]));
      assert.match(utf8.body.error ?? '', /^invalid-utf8: /);
      // All or nothing: the ndjson request whose second line failed queued nothing.
      await waitUntil('the accepted batch arrives', () => out.values.length >= 2);
      assert.deepEqual(out.values, [{ a: { b: { c: 1 } } }, { a: { b: { c: 2 } } }]);
      assert.deepEqual(source.stats().refused, { '400': 4, '413': 2 });
    } finally {
      await run.stop();
    }
  });

  it('__proto__ / constructor / prototype keys are refused with 400 and never reach an object', async () => {
    const source = httpSource<unknown>({ port: 0 });
    const out = collectSink<unknown>();
    const run = await started(source, out);
    try {
      const payloads = [
        '{"id":1,"__proto__":{"polluted":true}}',
        '{"id":2,"\\u005f_proto__":{"polluted":true}}',
        '[{"id":3},{"nested":{"constructor":{"prototype":{"polluted":true}}}}]',
      ];
      for (const p of payloads) {
        const r = await post(run.url, 'application/json', p);
        assert.equal(r.status, 400, p);
        assert.match(r.body.error ?? '', /^forbidden-key: object key "(__proto__|constructor)" is forbidden/);
      }
      const nd = await post(run.url, 'application/x-ndjson', '{"id":4}\n{"__proto__":{"polluted":true}}\n');
      assert.equal(nd.status, 400);
      assert.match(nd.body.error ?? '', /^line 2: forbidden-key/);
      const ok = await post(run.url, 'application/json', '{"id":5,"proto":"fine"}');
      assert.equal(ok.status, 202);
      await waitUntil('the clean record arrives', () => out.values.length >= 1);
      assert.deepEqual(out.values, [{ id: 5, proto: 'fine' }]);
      assert.equal(({} as { polluted?: unknown }).polluted, undefined);
      assert.equal(Object.hasOwn(Object.prototype, 'polluted'), false);
    } finally {
      await run.stop();
    }
  });

  it('with a token (bound to 127.0.0.1 here): 401 without it or with a wrong one, 202 with it; 404, 405, 415 named', async () => {
    const source = httpSource<unknown>({ port: 0, token: TOKEN, path: '/in' });
    const run = await started(source, collectSink<unknown>());
    try {
      const none = await post(run.url, 'application/json', '{}');
      assert.equal(none.status, 401);
      assert.equal(none.headers.get('www-authenticate'), 'Bearer');
      assert.equal((await post(run.url, 'application/json', '{}', `${TOKEN}x`)).status, 401);
      assert.equal((await post(run.url, 'application/json', '{}', TOKEN)).status, 202);
      const base = run.url.replace(/\/in$/, '');
      assert.equal((await post(`${base}/other`, 'application/json', '{}', TOKEN)).status, 404);
      const get = await fetch(run.url, { headers: { authorization: `Bearer ${TOKEN}` } });
      assert.deepEqual([get.status, get.headers.get('allow')], [405, 'POST']);
      await get.body?.cancel();
      const text = await post(run.url, 'text/plain', '{}', TOKEN);
      assert.equal(text.status, 415);
      assert.match(text.body.error ?? '', /send application\/json, application\/x-ndjson/);
    } finally {
      await run.stop();
    }
  });

  it('a full queue behind a slow sink answers 429 with Retry-After; 202 only once queued; every accepted record arrives', async () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const got: Rec[] = [];
    const slow: Sink<Rec> = {
      kind: 'slow',
      guarantee: 'best-effort',
      open: () => ({
        async write(values) {
          await gate;
          got.push(...values);
        },
      }),
    };
    const source = httpSource<Rec>({ port: 0, queueSize: 20, retryAfterSeconds: 2 });
    const run = await started(source, slow);
    try {
      const accepted: Rec[] = [];
      let busy: Awaited<ReturnType<typeof post>> | undefined;
      for (let i = 0; i < 500 && busy === undefined; i++) {
        const batch = records(5, i * 5);
        const r = await post(run.url, 'application/x-ndjson', ndjson(batch));
        if (r.status === 202) accepted.push(...batch);
        else if (r.status === 429) busy = r;
        else assert.fail(`unexpected ${r.status} ${JSON.stringify(r.body)}`);
      }
      assert.ok(busy !== undefined, 'a 429 came once the queue was full');
      assert.equal(busy.headers.get('retry-after'), '2');
      assert.match(busy.body.error ?? '', /(queue is full|do not fit in the queue).*retry after 2 s/);
      open();
      await waitUntil('every accepted record arrives', () => got.length >= accepted.length);
      assert.deepEqual(byId(got), byId(accepted));
      assert.equal(source.stats().accepted, accepted.length);
      // Room again: accepted.
      assert.equal(
        (await post(run.url, 'application/json', JSON.stringify(records(1, 10_000)[0]))).status,
        202,
      );
    } finally {
      open();
      await run.stop();
    }
  });

  it('misconfiguration fails fast, naming the value and the fix', async () => {
    assert.throws(
      () => httpSource({ host: '0.0.0.0' }),
      (e: unknown) => {
        assert.ok(e instanceof EddyError && e.code === 'EDDY_CONFIG_INVALID');
        assert.match(
          e.message,
          /would listen on "0\.0\.0\.0", which other machines can reach, without a token/,
        );
        assert.match(e.message, /pass token: process\.env\.EDDY_HTTP_TOKEN .* or bind host: "127\.0\.0\.1"/);
        return true;
      },
    );
    assert.throws(
      () => httpSource({ host: '::', token: 'short' }),
      /token must be at least 16 printable characters/,
    );
    assert.throws(() => httpSource({ port: 70_000 }), /option port must be at most 65535/);
    assert.throws(() => httpSource({ path: 'ingest' }), /path must start with \//);
    assert.throws(() => httpSource({ queueSize: 0 }), /queueSize must be at least 1/);
    assert.throws(() => httpSource({ maxBody: 1 } as unknown as object), /has no option "maxBody"/);
    // Loopback spellings need no token.
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1']) httpSource({ host, port: 0 });
    // A port in use is named.
    const first = httpSource({ port: 0 });
    const run = await started(first, collectSink<unknown>());
    try {
      const { port } = await first.listening();
      const p = new Pipeline({ name: 'http-twice' });
      p.source('in', httpSource({ port })).sink(collectSink<unknown>());
      await assert.rejects(
        p.run({ restart: false }),
        new RegExp(`port ${port} is in use: stop what listens there, or pass another port`),
      );
    } finally {
      await run.stop();
    }
  });
});
