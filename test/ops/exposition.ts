/**
 * A small parser of the Prometheus text format (0.0.4) for the metrics
 * tests: it checks what a scraper would (every sample belongs to a family
 * with a TYPE, names and labels are well-formed, values are numbers) and
 * gives the samples by name and labels.
 */
import assert from 'node:assert/strict';

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Exposition {
  readonly types: ReadonlyMap<string, string>;
  readonly samples: readonly Sample[];
  /** The value of the one sample of `name` whose labels include `labels`; undefined when none. */
  get(name: string, labels?: Readonly<Record<string, string>>): number | undefined;
  /** Every sample of `name` whose labels include `labels`. */
  all(name: string, labels?: Readonly<Record<string, string>>): readonly Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)/gy;
const SUFFIXES: Record<string, readonly string[]> = {
  counter: [''],
  gauge: [''],
  summary: ['', '_sum', '_count'],
  histogram: ['_bucket', '_sum', '_count'],
  untyped: [''],
};

export function parseExposition(text: string): Exposition {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('# TYPE ')) {
      const [name, type] = line.slice(7).split(' ');
      assert.match(name!, NAME, line);
      assert.ok(type !== undefined && SUFFIXES[type] !== undefined, `unknown type: ${line}`);
      assert.ok(!types.has(name!), `family ${name} declared twice`);
      types.set(name!, type);
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    assert.ok(m !== null, `not a sample line: ${JSON.stringify(line)}`);
    const [, name, rawLabels, rawValue] = m;
    const labels: Record<string, string> = {};
    if (rawLabels !== undefined && rawLabels !== '') {
      LABEL.lastIndex = 0;
      let end = 0;
      for (let l = LABEL.exec(rawLabels); l !== null; l = LABEL.exec(rawLabels)) {
        labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
        end = LABEL.lastIndex;
      }
      assert.equal(end, rawLabels.length, `bad labels: ${line}`);
    }
    const value = rawValue === '+Inf' ? Infinity : rawValue === '-Inf' ? -Infinity : Number(rawValue);
    assert.ok(rawValue === 'NaN' || !Number.isNaN(value), `bad value: ${line}`);
    const family = [...types.entries()].find(([f, t]) => SUFFIXES[t]!.some((s) => `${f}${s}` === name));
    assert.ok(family !== undefined, `sample without a TYPE: ${line}`);
    if (family[1] === 'counter') assert.match(name!, /_total$/, `a counter's name ends in _total: ${line}`);
    samples.push({ name: name!, labels, value });
  }
  const matches = (s: Sample, name: string, labels: Readonly<Record<string, string>>) =>
    s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v);
  const all = (name: string, labels: Readonly<Record<string, string>> = {}) =>
    samples.filter((s) => matches(s, name, labels));
  return {
    types,
    samples,
    all,
    get(name, labels = {}) {
      const found = all(name, labels);
      assert.ok(found.length <= 1, `${found.length} samples of ${name} ${JSON.stringify(labels)}`);
      return found[0]?.value;
    },
  };
}

/** Polls `check` until it returns a value (not undefined) or `ms` pass; the last error or a timeout fails. */
export async function eventually<T>(
  check: () => Promise<T | undefined>,
  ms = 30_000,
  what = 'a condition',
): Promise<T> {
  const deadline = performance.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (performance.now() > deadline)
      throw last instanceof Error ? last : new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
