/**
 * Queryable state across the instances of a Kafka application (issue 17), as
 * the metrics server answers it:
 *
 * - a key: the instance that runs the key's partition answers; any other
 *   redirects the caller there (`307`, `Location` on the owner's endpoint),
 *   as Kafka Streams' interactive queries leave to the application. The
 *   redirect pins the key's type (`keyType`) and counts hops, so two
 *   instances that disagree for a moment (a rebalance) cannot send a caller
 *   back and forth for ever.
 * - a scan: the instance asked scans its own partitions and asks every other
 *   instance for theirs (`scope=local`), with the caller's `Authorization`,
 *   and merges the answers in key order; the answer names the partitions it
 *   covers and any instance it could not reach.
 *
 * Trust: the instances and their endpoints come from the application's
 * consumer group, so whoever may join that group (Kafka ACLs) is trusted
 * with the callers' tokens, as with the state itself.
 */
import { decodeJson } from '../codec/index.ts';
import type { Key } from '../core/key-groups.ts';
import {
  type AppInstance,
  type KeyLocation,
  type KeyState,
  mergeScans,
  type StateScan,
  type StateScanOptions,
} from '../core/metrics.ts';

/** The most hops a state query is redirected before the answer is "try again". */
export const MAX_HOPS = 2;
/** How long an instance waits for another's scan. */
const PEER_TIMEOUT_MS = 10_000;
/** The most bytes of another instance's scan read. */
const PEER_MAX_BYTES = 64 * 1024 * 1024;

/** Where a redirect for `where` goes: the owner's `/state/<step>/<key>`, with `search` kept and the key's type pinned. */
export function redirectTo(where: KeyLocation, step: string, search: URLSearchParams, hops: number): string {
  const q = new URLSearchParams(search);
  q.set('keyType', typeof where.key === 'number' ? 'number' : 'string');
  q.set('hops', String(hops + 1));
  return `${where.endpoint}/state/${encodeURIComponent(step)}/${encodeURIComponent(String(where.key))}?${q}`;
}

/** Why a key cannot be answered here and the caller is not redirected (no endpoint known). */
export function elsewhereReason(where: KeyLocation): string {
  const who =
    where.instance === undefined ? 'no instance runs it right now' : `instance "${where.instance}" runs it`;
  return `key ${JSON.stringify(where.key)} is in partition ${where.partition}; ${who}${where.instance === undefined ? '; try again once the group has settled' : ', which gave no endpoint: start every instance with --endpoint <its URL> (kafkaApp endpoint) to be redirected there'}`;
}

/** One instance's part of a scan across instances. */
export interface PeerPart {
  readonly instance: string;
  readonly endpoint?: string;
  readonly partitions: readonly number[];
  /** Why its keys are missing from the answer. */
  readonly error?: string;
}

/** A scan over every instance: keys in order, the partitions covered, and each instance's part. */
export interface ScanEverywhere extends StateScan {
  readonly partitions: readonly number[];
  readonly instances: readonly PeerPart[];
  /** Whether every instance that runs partitions answered. */
  readonly complete: boolean;
}

/**
 * Scans `step` on this instance (`local`) and on every other one the group
 * lists, and merges the answers: at most `o.limit` keys, smallest first.
 */
export async function scanEverywhere(
  step: string,
  o: StateScanOptions,
  local: StateScan & { readonly partitions?: readonly number[] },
  instances: readonly AppInstance[],
  search: URLSearchParams,
  authorization: string | undefined,
): Promise<ScanEverywhere> {
  const others = instances.filter((i) => !i.local && i.partitions.length > 0);
  const parts: PeerPart[] = [];
  const scans: StateScan[] = [local];
  const covered = new Set(local.partitions ?? []);
  const answers = await Promise.all(
    others.map(async (peer): Promise<PeerPart> => {
      const part = {
        instance: peer.instance,
        ...(peer.endpoint === undefined ? {} : { endpoint: peer.endpoint }),
        partitions: peer.partitions,
      };
      if (peer.endpoint === undefined)
        return { ...part, error: 'it gave no endpoint (start it with --endpoint <its URL>)' };
      try {
        const scan = await askPeer(peer.endpoint, step, search, authorization);
        scans.push({ step, keys: scan.keys, truncated: scan.truncated });
        for (const p of scan.partitions) covered.add(p);
        return { ...part, partitions: scan.partitions };
      } catch (e) {
        return { ...part, error: String((e as Error)?.message ?? e) };
      }
    }),
  );
  parts.push(...answers);
  return {
    ...mergeScans(step, scans, o),
    partitions: [...covered].sort((a, b) => a - b),
    instances: [
      {
        instance: instances.find((i) => i.local)?.instance ?? 'this instance',
        partitions: local.partitions ?? [],
      },
      ...parts,
    ],
    complete: parts.every((p) => p.error === undefined),
  };
}

/** Another instance's scan of its own partitions (`scope=local`), decoded with eddy's bounds. */
async function askPeer(
  endpoint: string,
  step: string,
  search: URLSearchParams,
  authorization: string | undefined,
): Promise<{ keys: KeyState[]; truncated: boolean; partitions: number[] }> {
  const q = new URLSearchParams(search);
  q.set('scope', 'local');
  const res = await fetch(`${endpoint}/state/${encodeURIComponent(step)}?${q}`, {
    headers: authorization === undefined ? {} : { authorization },
    redirect: 'error',
    signal: AbortSignal.timeout(PEER_TIMEOUT_MS),
  });
  const bytes = await readBounded(res);
  if (!res.ok) throw new Error(`${endpoint} answered ${res.status}: ${bytes.toString('utf8', 0, 300)}`);
  const body = decodeJson(bytes, { maxBytes: PEER_MAX_BYTES, maxDepth: 128 });
  if (!body.ok) throw new Error(`${endpoint} answered what is not a scan: ${body.reason}`);
  const v = body.value as { keys?: unknown; truncated?: unknown; partitions?: unknown };
  if (
    !Array.isArray(v.keys) ||
    !Array.isArray(v.partitions) ||
    !v.partitions.every((p) => Number.isInteger(p)) ||
    !v.keys.every(
      (k: unknown) =>
        k !== null &&
        typeof k === 'object' &&
        (typeof (k as { key?: unknown }).key === 'string' ||
          typeof (k as { key?: unknown }).key === 'number'),
    )
  )
    throw new Error(`${endpoint} answered what is not a scan of a Kafka application`);
  return {
    keys: v.keys as KeyState[],
    truncated: v.truncated === true,
    partitions: v.partitions as number[],
  };
}

async function readBounded(res: Response): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body ?? []) {
    size += (chunk as Uint8Array).length;
    if (size > PEER_MAX_BYTES) throw new Error(`the answer is larger than ${PEER_MAX_BYTES} bytes`);
    chunks.push(Buffer.from(chunk as Uint8Array));
  }
  return Buffer.concat(chunks);
}

/** The key of a `/state/<step>/<key>` request as `keyType` pins it, or undefined when unpinned. */
export function pinnedKey(key: string, keyType: string | null): Key | undefined {
  if (keyType === 'string') return key;
  if (keyType === 'number' && /^-?\d+(\.\d+)?$/.test(key)) return Number(key);
  return undefined;
}
