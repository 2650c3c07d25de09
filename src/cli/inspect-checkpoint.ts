/**
 * `eddy inspect <checkpoint or savepoint dir> [--json] [--samples n]`
 * (issue 17): what a checkpoint holds, read offline and checked (size and
 * CRC) as a restore would: its id, kind, pipeline and parallelism; per step
 * and state name the key groups, entries and bytes, with a few sample keys;
 * and each subtask's source positions and watermarks.
 *
 * The directory is a checkpoint or savepoint itself (it has a
 * `manifest.json`), or a checkpoint directory of a run (`chk-<id>`
 * directories): then the newest complete one is read, as `--resume` would.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { CheckpointMeta } from '../checkpoint/snapshot.ts';
import {
  CheckpointStorage,
  type ChunkRef,
  type LoadedCheckpoint,
  loadCheckpoint,
} from '../checkpoint/storage.ts';
import { decode } from '../codec/chunks.ts';

/** One step's state (or keyed items) of one name, summed over its key groups. */
export interface StateSummary {
  readonly step: string;
  readonly name: string;
  /** `state`: a state table's entries; `keyed`: an operator's keyed items (timers, buffers). */
  readonly kind: 'state' | 'keyed';
  readonly keyGroups: number;
  readonly entries: number;
  readonly bytes: number;
  /** Up to `samples` keys of state tables (as they are, strings or numbers). */
  readonly sampleKeys: readonly unknown[];
}

export interface CheckpointSummary {
  readonly dir: string;
  readonly id: number;
  readonly kind: 'checkpoint' | 'savepoint';
  readonly pipeline: string;
  readonly createdAt: string;
  readonly parallelism: number;
  readonly maxParallelism: number;
  readonly bytes: number;
  readonly state: readonly StateSummary[];
  /** Per subtask: each source's position (as stored) and its watermark generator's last watermark. */
  readonly sources: readonly {
    readonly subtask: number;
    readonly source: string;
    readonly position: unknown;
    readonly watermark: number;
  }[];
}

/** Loads the checkpoint at `dir` (or the newest under it); throws what is wrong, naming the directory. */
export async function loadForInspection(dir: string): Promise<LoadedCheckpoint> {
  if (existsSync(join(dir, 'manifest.json'))) return loadCheckpoint(dir);
  const skipped: string[] = [];
  const latest = await new CheckpointStorage(dir, Number.POSITIVE_INFINITY).latest((d, why) =>
    skipped.push(`${d}: ${why}`),
  );
  if (latest === undefined)
    throw new Error(
      `${dir} holds no complete checkpoint (no manifest.json, no chk-<id> directory that loads)${skipped.length > 0 ? `; skipped ${skipped.join('; ')}` : ''}`,
    );
  return latest;
}

/** What the checkpoint holds, with up to `samples` keys per state table. */
export function summarise(c: LoadedCheckpoint, samples: number): CheckpointSummary {
  const m = c.manifest;
  const groups = new Map<
    string,
    { ref: ChunkRef; keyGroups: Set<number>; entries: number; bytes: number; keys: unknown[] }
  >();
  let meta: CheckpointMeta | undefined;
  for (const ref of m.chunks) {
    if (ref.kind === 'meta') {
      meta = decode(c.read(ref)) as CheckpointMeta;
      continue;
    }
    const id = `${ref.kind}\u0000${ref.step}\u0000${ref.name}`;
    let g = groups.get(id);
    if (g === undefined) groups.set(id, (g = { ref, keyGroups: new Set(), entries: 0, bytes: 0, keys: [] }));
    g.keyGroups.add(ref.keyGroup);
    g.entries += ref.entries;
    g.bytes += ref.length;
    if (ref.kind === 'state' && g.keys.length < samples)
      g.keys.push(...keysOf(decode(c.read(ref)), samples - g.keys.length));
  }
  const state = [...groups.values()]
    .map(
      (g): StateSummary => ({
        step: g.ref.step,
        name: g.ref.name,
        kind: g.ref.kind as 'state' | 'keyed',
        keyGroups: g.keyGroups.size,
        entries: g.entries,
        bytes: g.bytes,
        sampleKeys: g.keys,
      }),
    )
    .sort(
      (a, b) => a.step.localeCompare(b.step) || a.name.localeCompare(b.name) || a.kind.localeCompare(b.kind),
    );
  const sources: CheckpointSummary['sources'][number][] = [];
  for (const [subtask, s] of (meta?.subtasks ?? []).entries())
    for (const [source, { position, feeder }] of Object.entries(s.sources))
      sources.push({ subtask, source, position, watermark: feeder.emitted });
  return {
    dir: c.dir,
    id: m.id,
    kind: m.kind,
    pipeline: m.pipeline,
    createdAt: new Date(m.createdAt).toISOString(),
    parallelism: m.parallelism,
    maxParallelism: m.maxParallelism,
    bytes: m.dataBytes,
    state,
    sources,
  };
}

/** The keys of a state chunk's entries: flat `[key, namespace, value, …]` or `[[key, namespace, value], …]`. */
function keysOf(entries: unknown, max: number): unknown[] {
  if (!Array.isArray(entries)) return [];
  const out: unknown[] = [];
  const tuples = Array.isArray(entries[0]);
  const step = tuples ? 1 : 3;
  for (let i = 0; i < entries.length && out.length < max; i += step) {
    const key = tuples ? (entries[i] as unknown[])[0] : entries[i];
    if (!out.includes(key)) out.push(key);
  }
  return out;
}

const shown = (v: unknown, width = 100): string => {
  let text: string;
  try {
    text = typeof v === 'string' ? JSON.stringify(v) : (JSON.stringify(v) ?? String(v));
  } catch {
    text = String(v);
  }
  return text.length > width ? `${text.slice(0, width)}…` : text;
};

/** The summary for a person. */
export function renderSummary(s: CheckpointSummary): string {
  const lines = [
    `${s.kind} ${s.id} of pipeline "${s.pipeline}" (${s.dir})`,
    `  written ${s.createdAt}, parallelism ${s.parallelism}, max parallelism ${s.maxParallelism}, ${s.bytes.toLocaleString('en-US')} bytes`,
    '',
    s.state.length === 0 ? '  no keyed state' : '  keyed state:',
  ];
  for (const t of s.state) {
    lines.push(
      `    ${t.step} · ${t.name} (${t.kind === 'state' ? 'state table' : 'keyed items'}): ${t.entries.toLocaleString('en-US')} entries in ${t.keyGroups} key groups, ${t.bytes.toLocaleString('en-US')} bytes`,
    );
    if (t.sampleKeys.length > 0)
      lines.push(`      sample keys: ${t.sampleKeys.map((k) => shown(k, 40)).join(', ')}`);
  }
  lines.push('', s.sources.length === 0 ? '  no source positions' : '  sources:');
  for (const p of s.sources)
    lines.push(
      `    subtask ${p.subtask} · ${p.source}: position ${shown(p.position)}, watermark ${Number.isFinite(p.watermark) ? p.watermark : String(p.watermark)}`,
    );
  return `${lines.join('\n')}\n`;
}
