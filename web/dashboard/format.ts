/** How the dashboard writes numbers, sizes, durations and event times. */

export function count(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function rate(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return n >= 10 ? count(n) : n.toFixed(1);
}

export function percent(f: number): string {
  return `${Math.round(f * 100)}%`;
}

export function bytes(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(2)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  if (n >= 2 ** 10) return `${(n / 2 ** 10).toFixed(1)} KiB`;
  return `${n} B`;
}

export function ms(n: number): string {
  return n >= 1000 ? `${(n / 1000).toFixed(2)} s` : `${Math.round(n)} ms`;
}

export function micros(n: number): string {
  return n >= 1000 ? ms(n / 1000) : `${Math.round(n)} µs`;
}

/** An event time: a date when it looks like epoch milliseconds (after 2001), else the number. */
export function eventTime(t: number | null): string {
  if (t === null) return '—';
  return t > 1e12 ? new Date(t).toISOString().replace('T', ' ').replace('Z', '') : count(t);
}

export function clock(at: number): string {
  return new Date(at).toLocaleTimeString('en-GB');
}
