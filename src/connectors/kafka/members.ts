/**
 * Which instance of a Kafka application runs which partition, and where it
 * answers state queries (issue 17: queryable state across instances, as Kafka
 * Streams' `application.server` and `queryMetadataForKey`).
 *
 * Each instance puts `{ instance, endpoint }` in its group subscription's
 * user data; any instance reads every member's back, with the partitions the
 * group assigned it, from the group coordinator (DescribeGroups). No eddy
 * server is involved: the consumer group is the directory.
 *
 * The user data is read from the brokers, so it is treated as untrusted
 * input: bounded in size, parsed without letting keys reach objects, and an
 * endpoint is taken only if it is an http(s) URL without credentials.
 */
import type { Admin, ExtendedGroupProtocolSubscription } from '@platformatic/kafka';
import type { AppInstance } from '../../core/metrics.ts';
import { configError } from '../../errors/index.ts';

/** The most bytes of user data read from a member. */
const MAX_USER_DATA = 64 * 1024;
/** The most partition loads read from a member. */
const MAX_LOADS = 2000;

/**
 * An instance's endpoint as given (`KafkaAppOptions.endpoint`), checked: an
 * http or https URL with a host, without credentials, query or fragment.
 * Returned without a trailing slash.
 */
export function checkEndpoint(endpoint: unknown): string | undefined {
  if (endpoint === undefined) return undefined;
  const bad = (why: string) =>
    configError(
      `kafkaApp endpoint ${why}`,
      endpoint,
      'pass the URL other instances reach this one at, e.g. endpoint: "http://10.0.0.5:9464" (the metrics server of eddy run --ui)',
    );
  if (typeof endpoint !== 'string' || endpoint.length > 512)
    throw bad('must be a URL of at most 512 characters');
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw bad('is not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw bad('must be http or https');
  if (url.username !== '' || url.password !== '') throw bad('must not carry credentials');
  if (url.search !== '' || url.hash !== '') throw bad('must not have a query or fragment');
  return url.href.replace(/\/+$/, '');
}

/** What a member tells the others. */
export interface MemberData {
  instance?: string;
  endpoint?: string;
  /** The load of each partition it runs (`topic:partition` → records per second to keep up): `load-balance.ts`. */
  load?: Map<string, number>;
  /**
   * The key-group partitions it keeps a warm standby copy of
   * (`topic:partition` → the changelog offset the copy has read to):
   * `standby.ts`, `assignor.ts`.
   */
  warm?: Map<string, number>;
  /**
   * It is warming up the copies of the partitions it will run, and takes
   * none from their owners until it has (`standbys.ts`, `assignor.ts`).
   */
  warming?: boolean;
}

/** The user data an instance subscribes with; loads as pairs, the heaviest first, as many as fit. */
export function memberData(
  instance: string,
  endpoint: string | undefined,
  load?: ReadonlyMap<string, number>,
  warm?: ReadonlyMap<string, number>,
  warming = false,
): Buffer {
  const pairs = [...(load ?? [])].sort((a, b) => b[1] - a[1]).slice(0, MAX_LOADS);
  const copies = [...(warm ?? [])].slice(0, MAX_LOADS);
  return Buffer.from(
    JSON.stringify({
      instance,
      ...(endpoint === undefined ? {} : { endpoint }),
      ...(pairs.length === 0 ? {} : { load: pairs }),
      ...(copies.length === 0 ? {} : { warm: copies }),
      ...(warming ? { warming: true } : {}),
    }),
  );
}

/** `[topic:partition, number ≥ 0]` pairs from untrusted data, as a map (at most MAX_LOADS). */
function numberPairs(list: unknown): Map<string, number> | undefined {
  if (!Array.isArray(list)) return undefined;
  const out = new Map<string, number>();
  for (const pair of list.slice(0, MAX_LOADS)) {
    if (!Array.isArray(pair) || pair.length !== 2) continue;
    const [split, n] = pair as [unknown, unknown];
    if (
      typeof split === 'string' &&
      split.length <= 300 &&
      typeof n === 'number' &&
      Number.isFinite(n) &&
      n >= 0
    )
      out.set(split, n);
  }
  return out.size > 0 ? out : undefined;
}

/** What a member's user data says, or nothing for data eddy did not write. */
export function readMemberData(data: unknown): MemberData {
  if (!Buffer.isBuffer(data) || data.length === 0 || data.length > MAX_USER_DATA) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(data.toString('utf8'));
  } catch {
    return {};
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return {};
  // Only named fields are read: no key of the data reaches an object of ours.
  const instance = Object.hasOwn(parsed, 'instance') ? (parsed as { instance: unknown }).instance : undefined;
  const endpoint = Object.hasOwn(parsed, 'endpoint') ? (parsed as { endpoint: unknown }).endpoint : undefined;
  const load = Object.hasOwn(parsed, 'load') ? numberPairs((parsed as { load: unknown }).load) : undefined;
  const warm = Object.hasOwn(parsed, 'warm') ? numberPairs((parsed as { warm: unknown }).warm) : undefined;
  const out: MemberData = {};
  if (load !== undefined) out.load = load;
  if (warm !== undefined) out.warm = warm;
  if (Object.hasOwn(parsed, 'warming') && (parsed as { warming: unknown }).warming === true)
    out.warming = true;
  if (typeof instance === 'string' && instance.length <= 200) out.instance = instance;
  try {
    const checked = checkEndpoint(endpoint);
    if (checked !== undefined) out.endpoint = checked;
  } catch {
    // Not a URL eddy would have written: no endpoint.
  }
  return out;
}

/**
 * The group's members as instances: each one's name, endpoint and the
 * partitions of `topic` (the key groups) the group assigned it, ordered by
 * instance. `self` is this process's member id (its entry is `local`).
 */
export async function describeInstances(
  admin: Admin,
  groupId: string,
  topic: string,
  self: string | undefined,
): Promise<AppInstance[]> {
  const groups = await admin.describeGroups({ groups: [groupId] });
  const group = groups.get(groupId);
  const out: AppInstance[] = [];
  for (const member of group?.members.values() ?? []) {
    const data = readMemberData(member.metadata?.metadata);
    const partitions = [...(member.assignments?.get(topic)?.partitions ?? [])].sort((a, b) => a - b);
    out.push({
      instance: data.instance ?? member.clientId,
      ...(data.endpoint === undefined ? {} : { endpoint: data.endpoint }),
      partitions,
      local: member.id === self,
    });
  }
  return out.sort((a, b) => (a.instance < b.instance ? -1 : a.instance > b.instance ? 1 : 0));
}

/**
 * The group as its leader's assignor would see it at the next rebalance,
 * read back from the group coordinator (DescribeGroups): each member's
 * subscription (topics, user data), with what it runs now as its owned
 * partitions — the subscription's own list is as of the member's last join,
 * which may be long ago — all in one generation. For an instance that wants
 * to know what the assignor would give it (`standbys.ts` warm-up).
 */
export async function describeSubscriptions(
  admin: Admin,
  groupId: string,
): Promise<Map<string, ExtendedGroupProtocolSubscription>> {
  const groups = await admin.describeGroups({ groups: [groupId] });
  const out = new Map<string, ExtendedGroupProtocolSubscription>();
  for (const member of groups.get(groupId)?.members.values() ?? []) {
    const m = member.metadata;
    if (m === undefined) continue;
    const owned = [...(member.assignments?.values() ?? [])]
      .filter((a) => a.partitions.length > 0)
      .map((a) => ({ topic: a.topic, partitions: [...a.partitions] }));
    out.set(member.id, {
      memberId: member.id,
      ...m,
      ownedPartitions: owned,
      generationId: 1,
    } as unknown as ExtendedGroupProtocolSubscription);
  }
  return out;
}
