/**
 * Sets of JetStream stream sequences, kept compact as ranges: what a
 * checkpoint stores (`ranges`), and what a reader acknowledged recently
 * (`RecentAcks`), so that a message a restarted server sends again — it can
 * lose acknowledgements it had received when it is killed — is acknowledged
 * again and not handed out twice.
 */

/** Sorted [first, last] ranges of a set of sequences (consecutive ones compress to one range); sorts `seqs`. */
export function ranges(seqs: number[]): [number, number][] {
  seqs.sort((a, b) => a - b);
  const out: [number, number][] = [];
  for (const s of seqs) {
    const last = out.at(-1);
    if (last !== undefined && s <= last[1] + 1) last[1] = Math.max(last[1], s);
    else out.push([s, s]);
  }
  return out;
}

/**
 * The sequences acknowledged in the last `keepMs`, as one chunk of ranges
 * per acknowledgement. `has` is a comparison for a sequence above all of
 * them (every new message), and a scan of the chunks only for an older one
 * (a message sent again).
 */
export class RecentAcks {
  private readonly chunks: { at: number; ranges: [number, number][] }[] = [];
  private max = 0;
  private readonly keepMs: number;

  constructor(keepMs: number) {
    this.keepMs = keepMs;
  }

  add(seqs: readonly number[], now = Date.now()): void {
    if (seqs.length > 0) {
      const r = ranges([...seqs]);
      this.chunks.push({ at: now, ranges: r });
      if (r.at(-1)![1] > this.max) this.max = r.at(-1)![1];
    }
    while (this.chunks.length > 0 && now - this.chunks[0]!.at > this.keepMs) this.chunks.shift();
  }

  has(seq: number): boolean {
    if (seq > this.max) return false;
    for (const c of this.chunks) for (const [a, b] of c.ranges) if (seq >= a && seq <= b) return true;
    return false;
  }
}
