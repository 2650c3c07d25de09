// Runs every ```ts example in src/codec doc comments against the real exports, so that the docs
// cannot drift from the API. Examples are written in the JavaScript subset of TypeScript and may use
// `assert` and the free names stubbed below.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import * as codec from '../../src/codec/index.ts';

const FILES = ['json.ts', 'lines.ts', 'avro.ts', 'index.ts'];
const AsyncFunction = (async () => {}).constructor as new (
  ...args: string[]
) => (...args: unknown[]) => Promise<void>;

function examples(file: string): string[] {
  const source = readFileSync(new URL(`../../src/codec/${file}`, import.meta.url), 'utf8');
  return [...source.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) =>
    m[1]!
      .split('\n')
      .map((line) => line.replace(/^\s*\* ?/, ''))
      .filter((line) => !line.startsWith('import '))
      .join('\n'),
  );
}

function scope(): Record<string, unknown> {
  const encode = (s: string) => new TextEncoder().encode(s);
  const chunk = encode('{"id":1}\n{"id":2}\n');
  return {
    ...codec,
    assert,
    console: { log() {} },
    bytes: encode('{"id":1}'),
    chunk,
    skipped: 0,
    metrics: { counter() {} },
    handle() {},
    deadLetter() {},
    emit() {},
    checkpoint: { nextOffset: 0, save() {} },
    fs: { createReadStream: () => [chunk] },
    path: 'events.jsonl',
    splitter: new codec.LineSplitter(),
  };
}

describe('src/codec doc examples', () => {
  for (const file of FILES) {
    const found = examples(file);
    it(`${file} has examples`, () => assert.ok(found.length > 0));
    found.forEach((code, i) => {
      it(`${file} example ${i + 1}: ${code.trim().split('\n')[0]}`, async () => {
        const names = scope();
        // A block, so that an example may declare a name that is also stubbed (e.g. `splitter`).
        await new AsyncFunction(...Object.keys(names), `{\n${code}\n}`)(...Object.values(names));
      });
    });
  }
});
