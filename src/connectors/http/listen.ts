/**
 * Binding an HTTP server for a connector: resolves with the bound address
 * (port 0 picks a free port), or fails with an error naming the address and
 * the fix (a port in use, an address this machine does not have).
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EddyError } from '../../errors/index.ts';

/** Where a connector listens, once bound. */
export interface Bound {
  readonly host: string;
  readonly port: number;
  /** `http://host:port<path>`, for clients. */
  readonly url: string;
}

export function listen(
  what: string,
  stepId: string,
  server: Server,
  host: string,
  port: number,
  path: string,
): Promise<Bound> {
  return new Promise((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      const fix =
        e.code === 'EADDRINUSE'
          ? `port ${port} is in use: stop what listens there, or pass another port (0 picks a free one)`
          : e.code === 'EADDRNOTAVAIL'
            ? `this machine has no address ${host}: pass one of its addresses, or "127.0.0.1"`
            : 'check host and port';
      reject(
        new EddyError('EDDY_IO_FAILED', `${what} cannot listen on ${host}:${port} (${e.message}); ${fix}`, {
          cause: e,
          retriable: e.code === 'EADDRINUSE',
          stepId,
        }),
      );
    };
    const onListening = () => {
      server.off('error', onError);
      const a = server.address() as AddressInfo;
      const h = a.family === 'IPv6' ? `[${a.address}]` : a.address;
      resolve({ host: a.address, port: a.port, url: `http://${h}:${a.port}${path}` });
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}
