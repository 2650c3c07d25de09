/** Seeded Zipf-distributed keys `k0`…`k9999` for the Kafka skew benches (the same sequence every run). */

const KEYS = 10_000;

export function zipfKeys(events: number, s: number): string[] {
  const cdf = new Float64Array(KEYS);
  let total = 0;
  for (let i = 0; i < KEYS; i++) total += 1 / (i + 1) ** s;
  let acc = 0;
  for (let i = 0; i < KEYS; i++) cdf[i] = acc += 1 / (i + 1) ** s / total;
  const out = new Array<string>(events);
  let x = 12345;
  for (let e = 0; e < events; e++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const u = x / 4294967296;
    let lo = 0;
    let hi = KEYS - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    out[e] = `k${lo}`;
  }
  return out;
}
