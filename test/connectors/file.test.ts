import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { collectSink, type DeadLetter, jsonLinesSink, jsonLinesSource, Pipeline } from '../../src/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'eddy-file-'));

describe('JSON Lines files', () => {
  it('decodes good lines, sends bad ones to the dead-letter output with the reason, and keeps going', async () => {
    const input = join(dir, 'mixed.jsonl');
    const deep = `${'['.repeat(100)}${']'.repeat(100)}`;
    const lines = [
      Buffer.from('{"id":1,"v":10}\n'),
      Buffer.from([0x7b, 0x22, 0x69, 0x64, 0x22, 0x3a, 0xff, 0x7d, 0x0a]), // invalid UTF-8
      Buffer.from('{"id":2,"v":20}\r\n'),
      Buffer.from(`${deep}\n`),
      Buffer.from('{"id":3,"__proto__":{"admin":true}}\n'),
      Buffer.from('{"id":4,\n'),
      Buffer.from(`{"id":5,"pad":"${'x'.repeat(300)}"}\n`),
      Buffer.from('{"id":6,"v":"not a number"}\n'),
      Buffer.from('\n{"id":7,"v":70}'), // blank line, and a last line with no newline
    ];
    writeFileSync(input, Buffer.concat(lines));
    const out = collectSink<{ id: number; v: number }>();
    const dead = collectSink<DeadLetter>();
    const p = new Pipeline();
    p.source(
      'lines',
      jsonLinesSource({
        path: input,
        chunkSize: 7, // lines span many reads
        limits: { maxBytes: 200, maxDepth: 32 },
        parse: (v) => {
          const r = v as { id: number; v: number };
          if (typeof r.v !== 'number') throw new Error(`v must be a number, got ${JSON.stringify(r.v)}`);
          return r;
        },
      }),
    ).sink(out);
    p.deadLetters().sink(dead);
    await p.run();
    assert.deepEqual(
      out.values.map((r) => r.id),
      [1, 2, 7],
    );
    const reasons = dead.values.map((d) => `${d.code} ${d.reason}`);
    assert.equal(reasons.length, 6);
    assert.match(reasons[0]!, /EDDY_DECODE_FAILED line at byte 16: invalid UTF-8/);
    assert.match(reasons[1]!, /nesting depth \d+ exceeds maxDepth 32/);
    assert.match(reasons[2]!, /"__proto__" is forbidden/);
    assert.match(reasons[3]!, /JSON parse error/);
    assert.match(reasons[4]!, /bytes; maxBytes is 200/);
    assert.match(reasons[5]!, /v must be a number, got "not a number"/);
    assert.ok(dead.values.every((d) => d.step === 'lines'));
    assert.ok(dead.values[0]!.payload.startsWith('base64:'), 'invalid UTF-8 keeps its bytes');
    assert.equal(({} as Record<string, unknown>)['admin'], undefined);
  });

  it('writes one JSON value per line', async () => {
    const output = join(dir, 'out.jsonl');
    const p = new Pipeline();
    p.source('n', jsonLinesSource({ path: writeLines(join(dir, 'n.jsonl'), [1, 2, 3]) }))
      .map((n) => ({ n: (n as number) * 2 }))
      .sink(jsonLinesSink({ path: output }));
    await p.run();
    assert.equal(readFileSync(output, 'utf8'), '{"n":2}\n{"n":4}\n{"n":6}\n');
  });

  it('fails fast on a missing file with a message naming it', async () => {
    const p = new Pipeline();
    p.source('x', jsonLinesSource({ path: join(dir, 'missing.jsonl') })).sink(collectSink());
    await assert.rejects(p.run(), /cannot open .*missing\.jsonl \(ENOENT\)/);
  });
});

function writeLines(path: string, values: unknown[]): string {
  writeFileSync(path, values.map((v) => JSON.stringify(v)).join('\n'));
  return path;
}
