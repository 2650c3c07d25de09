/**
 * A private server for an outage test: the real broker or database binary
 * (redis-server, nats-server, mosquitto), started by the test on a free
 * 127.0.0.1 port with its data in a temporary directory, so the test can kill
 * it and start it again on the same port and data without touching the
 * machine's shared services that other suites use at the same time.
 *
 * Bounded: every start waits at most `startTimeoutMs` for the port; the
 * process is killed when the test's process exits; `close` removes the data.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ServerProcess {
  readonly port: number;
  /** The data directory (kept across `stop`/`start`). */
  readonly dir: string;
  /** Stops the server (SIGKILL: a crash; SIGTERM: a clean shutdown) and waits for it to exit. */
  stop(signal?: 'SIGKILL' | 'SIGTERM'): Promise<void>;
  /** Starts it again on the same port and data; resolves once the port accepts connections. */
  start(): Promise<void>;
  /** Stops it for good and removes its data. */
  close(): Promise<void>;
  /** What the server printed (for a failure's message). */
  log(): string;
}

/** A port no one listens on now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(port, '127.0.0.1', () => done(true));
  });
}

/**
 * Starts `command` with `args(port, dir)` and waits for its port.
 * `name` tags the temporary directory and the messages.
 */
export async function serverProcess(
  name: string,
  command: string,
  args: (port: number, dir: string) => string[],
  startTimeoutMs = 60_000,
): Promise<ServerProcess> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), `eddy-${name}-`));
  let child: ChildProcess | undefined;
  let output = '';
  const killOnExit = () => child?.kill('SIGKILL');
  process.once('exit', killOnExit);

  const start = async (): Promise<void> => {
    const cp = spawn(command, args(port, dir), { stdio: ['ignore', 'pipe', 'pipe'] });
    child = cp;
    cp.stdout?.on('data', (d) => (output += String(d)));
    cp.stderr?.on('data', (d) => (output += String(d)));
    let exited = false;
    cp.once('exit', () => (exited = true));
    const until = Date.now() + startTimeoutMs;
    while (!(await accepts(port))) {
      if (exited) throw new Error(`${name} (${command}) exited while starting on port ${port}:\n${output}`);
      if (Date.now() > until)
        throw new Error(
          `${name} did not accept connections on port ${port} within ${startTimeoutMs} ms:\n${output}`,
        );
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  const stop = async (signal: 'SIGKILL' | 'SIGTERM' = 'SIGKILL'): Promise<void> => {
    const cp = child;
    if (cp === undefined || cp.exitCode !== null || cp.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const hard = setTimeout(() => cp.kill('SIGKILL'), 30_000);
      cp.once('exit', () => {
        clearTimeout(hard);
        resolve();
      });
      cp.kill(signal);
    });
  };

  await start();
  return {
    port,
    dir,
    stop,
    start,
    async close() {
      await stop('SIGKILL');
      process.removeListener('exit', killOnExit);
      rmSync(dir, { recursive: true, force: true });
    },
    log: () => output,
  };
}

/** A Redis server that writes every command to its append-only file before answering (a SIGKILL loses nothing it acknowledged). */
export function redisServer(extra: readonly string[] = []): Promise<ServerProcess> {
  return serverProcess('redis', 'redis-server', (port, dir) => [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'yes',
    '--appendfsync',
    'always',
    '--dir',
    dir,
    '--daemonize',
    'no',
    ...extra,
  ]);
}

/** A NATS server with JetStream, its streams in files under the test's directory. */
export function natsServer(): Promise<ServerProcess> {
  return serverProcess('nats', 'nats-server', (port, dir) => [
    '-a',
    '127.0.0.1',
    '-p',
    String(port),
    '-js',
    '-sd',
    dir,
  ]);
}

/** A Mosquitto broker that keeps sessions and queued messages in a file (written when it stops cleanly). */
export function mosquittoServer(extra: readonly string[] = []): Promise<ServerProcess> {
  return serverProcess('mosquitto', 'mosquitto', (port, dir) => {
    const conf = join(dir, 'mosquitto.conf');
    writeFileSync(
      conf,
      [
        `listener ${port} 127.0.0.1`,
        'allow_anonymous true',
        'persistence true',
        `persistence_location ${dir}/`,
        // As root Mosquitto would switch to its own user, who cannot write the test's directory.
        'user root',
        ...extra,
        '',
      ].join('\n'),
    );
    return ['-c', conf];
  });
}

/**
 * An outage in the middle of a run: once `pause` has stopped the sink, kills
 * `server`, lets the sink write into the outage, keeps the server down for
 * `downMs` and starts it again. Returns the records written before the kill.
 */
export async function outage(
  server: ServerProcess,
  pause: {
    readonly reached: Promise<void>;
    readonly release: () => void;
    readonly writtenAtPause: () => number;
  },
  o: { readonly signal?: 'SIGKILL' | 'SIGTERM'; readonly downMs?: number } = {},
): Promise<number> {
  await pause.reached;
  await server.stop(o.signal ?? 'SIGKILL');
  const written = pause.writtenAtPause();
  pause.release();
  await new Promise((resolve) => setTimeout(resolve, o.downMs ?? 1500));
  await server.start();
  return written;
}
