import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';

export const REDIS_MISSING =
  'redis-server was not found on PATH. Install it (Debian/Ubuntu: sudo apt-get install redis-server; ' +
  'macOS: brew install redis), or pass --redis-url / REDIS_URL for a Redis you run yourself, or use docker compose up.';

/** Whether a program answers `--version` (redis-server, redis-sentinel). */
export function hasCommand(program: string): boolean {
  return spawnSync(program, ['--version'], { stdio: 'ignore' }).status === 0;
}

export const hasRedisServer = (): boolean => hasCommand('redis-server');

export interface RedisServerOptions {
  port?: number;
  /** appendonly yes + appendfsync everysec: sessions survive a restart. */
  appendOnly?: boolean;
  /** Data directory; a fresh temporary one by default. */
  dir?: string;
  /** More arguments (e.g. --replicaof host port). */
  args?: string[];
  /** redis-sentinel runs from a config file it rewrites (given first on the command line). */
  sentinelConfig?: string;
}

export interface RedisServer {
  url: string;
  port: number;
  dir: string;
  process: ChildProcess;
  /** Stops Redis (SIGTERM: it writes its append-only file first); keepData leaves its directory for a restart. */
  stop(options?: { keepData?: boolean }): Promise<void>;
  /** Stops and starts it again on the same port and data directory. */
  restart(): Promise<RedisServer>;
}

/** Starts a real redis-server on loopback and resolves when it accepts connections. */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  if (!hasRedisServer()) throw new Error(REDIS_MISSING);
  // redis-server cannot listen on port 0: a port found free a moment ago may be taken by the
  // time it binds. Then it exits at once, and another free port is tried.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options, options.port ?? (await freePort()));
    } catch (err) {
      if (options.port !== undefined || attempt >= 5 || !(err instanceof PortTakenError)) throw err;
    }
  }
}

class PortTakenError extends Error {}

async function startOnce(options: RedisServerOptions, port: number): Promise<RedisServer> {
  const ownsDir = options.dir === undefined;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'coatcheck-redis-'));
  const args = [
    ...(options.sentinelConfig ? [options.sentinelConfig] : []),
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--dir', dir,
    '--save', '',
    '--appendonly', options.appendOnly ? 'yes' : 'no',
    '--appendfsync', 'everysec',
    '--daemonize', 'no',
    '--loglevel', 'warning',
    ...(options.args ?? []),
  ];
  // In its parent's process group (unlike the lab's node children): a redis-server cannot notice
  // that its parent died, so a Ctrl-C or a kill of the whole group must reach it directly.
  const child = spawn(options.sentinelConfig ? 'redis-sentinel' : 'redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));

  await waitForPing(port, child, () => output);

  const server: RedisServer = {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    process: child,
    async stop({ keepData = false } = {}) {
      if (child.exitCode === null && child.signalCode === null) {
        await new Promise<void>((resolve) => {
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
        });
      }
      if (ownsDir && !keepData) rmSync(dir, { recursive: true, force: true });
    },
    async restart() {
      await server.stop({ keepData: true });
      const next = await startRedisServer({ ...options, port, dir });
      // The restarted server owns the temporary directory now.
      const stopNext = next.stop;
      next.stop = async (opts) => {
        await stopNext(opts);
        if (ownsDir && !opts?.keepData) rmSync(dir, { recursive: true, force: true });
      };
      return next;
    },
  };
  return server;
}

/** Resolves once OUR redis-server answers on the port: another process on it would not know our pid. */
async function waitForPing(port: number, child: ChildProcess, output: () => string): Promise<void> {
  const { Socket } = await import('node:net');
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      if (/Address already in use/i.test(output())) throw new PortTakenError(`redis-server could not listen on port ${port}: another process holds it`);
      throw new Error(`redis-server exited at start-up:\n${output()}`);
    }
    const ok = await new Promise<boolean>((resolve) => {
      const socket = new Socket();
      socket.setTimeout(500);
      socket.once('error', () => resolve(false));
      socket.once('timeout', () => {
        socket.destroy();
        resolve(false);
      });
      socket.connect(port, '127.0.0.1', () => socket.write('INFO server\r\n'));
      let reply = '';
      socket.on('data', (data) => {
        reply += data.toString();
        if (!reply.includes('\r\n\r\n') && !/process_id:\d+\r\n/.test(reply)) return;
        socket.destroy();
        resolve(new RegExp(`process_id:${child.pid}\\r\\n`).test(reply));
      });
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`redis-server on port ${port} did not answer within 10 s:\n${output()}`);
}
