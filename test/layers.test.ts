/**
 * The house's layering (STYLE.md, issue 13): every import points down —
 * entry points → api, ops (a run's metrics endpoint and logs, issue 17) and
 * deploy (run modes over the runtime: the Kafka application) → plan →
 * runtime → operators/state/connectors/checkpoint/time → core (shared
 * vocabulary) → codec/errors/util — and nothing imports in a
 * circle, between folders or between files. Read from the source text, so it
 * needs no build; `import type` counts like any import.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, it } from 'node:test';

const SRC = new URL('../src/', import.meta.url).pathname;

/** Lower is higher up: a file may import its own rank (another folder, no cycle) or any greater rank. */
const RANK: Record<string, number> = {
  'index.ts': 0,
  cli: 0,
  testing: 0,
  api: 1,
  ops: 1,
  deploy: 1,
  plan: 2,
  runtime: 3,
  checkpoint: 4,
  operators: 4,
  state: 4,
  connectors: 4,
  time: 4,
  core: 5,
  codec: 6,
  errors: 6,
  util: 6,
};

/**
 * Imports that still point up, each with the step of issue 13 that removes
 * it. The test fails when one is no longer made, so the list only shrinks.
 */
const KNOWN_UPWARD: Record<string, string> = {};

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : [];
  });
}

const SPEC =
  /(?:import|export)\s(?:[^;'"]*?\sfrom\s)?['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]/g;

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(SPEC)) out.push(relative(SRC, normalize(join(dirname(file), m[1] ?? m[2]!))));
  return out;
}

const folderOf = (rel: string) => (rel.includes('/') ? rel.split('/')[0]! : rel);

/** The strongly connected components with more than one member (Tarjan). */
function cycles(graph: Map<string, Set<string>>): string[][] {
  let index = 0;
  const stack: string[] = [];
  const on = new Set<string>();
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const found: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1) found.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return found;
}

describe('layers (issue 13)', () => {
  const edges = files(SRC).flatMap((f) => importsOf(f).map((to) => [relative(SRC, f), to] as const));

  it('every folder of src has a rank', () => {
    const unknown = [...new Set(edges.flatMap(([a, b]) => [folderOf(a), folderOf(b)]))].filter(
      (f) => RANK[f] === undefined,
    );
    assert.deepEqual(unknown, [], 'give each new folder a rank in this test');
  });

  it('imports point down, except the listed ones that issue 13 still removes', () => {
    const upward = edges
      .filter(([a, b]) => RANK[folderOf(b)]! < RANK[folderOf(a)]!)
      .map(([a, b]) => `${a} -> ${b}`);
    const unexpected = upward.filter((e) => KNOWN_UPWARD[e] === undefined);
    assert.deepEqual(unexpected, [], 'an import points up: move the shared piece down (core/) instead');
    const gone = Object.keys(KNOWN_UPWARD).filter((e) => !upward.includes(e));
    assert.deepEqual(gone, [], 'no longer made: remove it from KNOWN_UPWARD');
  });

  it('no folder imports another in a circle', () => {
    const graph = new Map<string, Set<string>>();
    for (const [a, b] of edges) {
      if (folderOf(a) === folderOf(b)) continue;
      if (KNOWN_UPWARD[`${a} -> ${b}`] !== undefined) continue;
      let to = graph.get(folderOf(a));
      if (to === undefined) graph.set(folderOf(a), (to = new Set()));
      to.add(folderOf(b));
    }
    assert.deepEqual(cycles(graph), []);
  });

  it('no file imports another in a circle', () => {
    const graph = new Map<string, Set<string>>();
    for (const [a, b] of edges) {
      let to = graph.get(a);
      if (to === undefined) graph.set(a, (to = new Set()));
      to.add(b);
    }
    assert.deepEqual(cycles(graph), []);
  });
});
