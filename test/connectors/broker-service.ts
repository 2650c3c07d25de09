/**
 * A local broker for a connector suite (NATS, Redis): under CI=true a closed
 * port is a failure (the suite runs and fails on connecting); elsewhere the
 * suite is skipped with one loud line saying how to start the service.
 * Only 127.0.0.1 is ever touched.
 */
import { Socket } from 'node:net';

export interface LocalService {
  readonly port: number;
  /** The `skip` option for node:test: false when reachable, or under CI (which must fail instead). */
  readonly skip: string | false;
}

function reachable(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(port, '127.0.0.1', () => done(true));
  });
}

/** Whether `name` listens on 127.0.0.1:`port`; `start` says how to start it. */
export async function localService(name: string, port: number, start: string): Promise<LocalService> {
  if (await reachable(port)) return { port, skip: false };
  if (process.env['CI'] === 'true') return { port, skip: false };
  const why = `${name} is not reachable at 127.0.0.1:${port}: start it with "${start}" (CI=true makes this a failure)`;
  process.stderr.write(`\n!!! SKIPPING ${name} suite — ${why}\n\n`);
  return { port, skip: why };
}

/** Waits until `ok()` holds, polling; fails naming `what` after `timeoutMs` (generous: the machine is loaded). */
export async function waitUntil(
  what: string,
  ok: () => boolean | Promise<boolean>,
  timeoutMs = 120_000,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
