/**
 * Who may reach an HTTP connector: on a loopback address only this machine
 * can, so no token is needed; on any other address (`0.0.0.0`, a LAN
 * address, a host name) a bearer token is required, and a connector
 * configured without one refuses to start, naming the fix. Shared by the
 * ingest source and the SSE sink.
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { configError } from '../../errors/index.ts';

/** Shortest token accepted: a guessable token beyond loopback is no protection. */
export const MIN_TOKEN_LENGTH = 16;

/** Whether `host` only accepts connections from this machine. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  const v = isIP(host);
  if (v === 4) return host.startsWith('127.');
  if (v === 6) return host === '::1' || /^::ffff:127\./i.test(host);
  return false;
}

/** Refuses a non-loopback bind without a token (EDDY_CONFIG_INVALID naming the value and the fix). */
export function checkExposure(what: string, host: string, token: string | undefined): void {
  if (token !== undefined || isLoopback(host)) return;
  throw configError(
    `${what} would listen on ${JSON.stringify(host)}, which other machines can reach, without a token`,
    host,
    `pass token: process.env.EDDY_HTTP_TOKEN (at least ${MIN_TOKEN_LENGTH} characters; clients send "Authorization: Bearer <token>"), or bind host: "127.0.0.1"`,
  );
}

/** A checker of the `Authorization: Bearer <token>` header, constant-time; everything passes without a token. */
export function bearer(token: string | undefined): (req: IncomingMessage) => boolean {
  if (token === undefined) return () => true;
  const expected = Buffer.from(`Bearer ${token}`);
  return (req) => {
    const got = Buffer.from(req.headers.authorization ?? '');
    return got.length === expected.length && timingSafeEqual(got, expected);
  };
}
