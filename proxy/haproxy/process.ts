import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigError } from '../../services/vocabulary.js';

export const HAPROXY_MISSING = 'BALANCER=haproxy needs the haproxy program on PATH: install Debian\'s "haproxy" package (apt-get install haproxy), or use the Node balancer (--balancer node)';

/** The configuration's text, given the runtime socket's path and its generation (see workerOn). */
export type Render = (socket: string, generation: number) => string;

/** The haproxy master process (-W, master-worker) and the files it reads. */
export interface HaproxyProcess {
  /** Null when HAProxy runs beside us (a compose sidecar), not as our child. */
  readonly child: ChildProcess | null;
  /** The runtime API socket, for the configuration's `stats socket`. */
  readonly socket: string;
  /** Renders the configuration again and has the master start a worker on it; resolves once that worker answers. */
  reload(): Promise<void>;
  close(): Promise<void>;
}

export interface HaproxyOptions {
  config: Render;
  /** Every line HAProxy prints: the access log on stdout, its own notices and alerts on stderr. */
  onLine: (line: string, stream: 'stdout' | 'stderr') => void;
  bin?: string;
}

/** Is the configuration valid? `haproxy -c`, so a bad file never reaches a running master. */
function check(bin: string, file: string): void {
  const result = spawnSync(bin, ['-c', '-q', '-f', file], { encoding: 'utf8' });
  if (result.error) throw (result.error as NodeJS.ErrnoException).code === 'ENOENT' ? new ConfigError(HAPROXY_MISSING) : result.error;
  if (result.status !== 0) throw new Error(`haproxy refused the generated configuration: ${(result.stderr || result.stdout).trim()}`);
}

/** Asks the runtime API one question; rejects when no worker listens on the socket. */
export function ask(socket: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const connection = net.createConnection(socket);
    let answer = '';
    connection.setEncoding('utf8');
    connection.on('connect', () => connection.end(`${command}\n`));
    connection.on('data', (chunk: string) => (answer += chunk));
    connection.on('end', () => resolve(answer));
    connection.on('error', reject);
  });
}

/** The generation of the configuration the answering worker runs (its `description`), or null. */
async function workerGeneration(socket: string): Promise<number | null> {
  try {
    const match = /^description: coatcheck-config-(\d+)$/m.exec(await ask(socket, 'show info'));
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

class NotServed extends Error {}

/**
 * Resolves once a worker on this generation of the configuration answers on the runtime socket.
 * The generation, not a new pid: a worker from an earlier reload may come up late and would
 * otherwise pass for one on the latest file.
 */
async function workerOn(socket: string, generation: number, exited: Promise<never>, failure: () => string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await Promise.race([workerGeneration(socket), exited])) === generation) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new NotServed(failure());
}

/**
 * Asks for a reload until a worker on `generation` answers. The master re-executes itself on every
 * reload: just after one, it may miss the next request (its CLI not listening yet). Another
 * reload of the same file costs nothing; a change that never takes effect would be a lab that lies.
 */
async function reloadUntilServed(trigger: () => Promise<unknown> | void, socket: string, generation: number, exited: Promise<never>, failure: () => string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    await trigger();
    try {
      return await workerOn(socket, generation, exited, failure, attempt < 5 ? 3000 : 15_000);
    } catch (err) {
      if (attempt >= 5 || !(err instanceof NotServed)) throw err;
    }
  }
}

/** Writes aside and renames: the master re-reads the file on reload and must never see half of it. */
function writer(file: string, check?: (file: string) => void): (text: string) => void {
  return (text) => {
    const next = `${file}.next`;
    writeFileSync(next, text, { mode: 0o600 });
    check?.(next);
    renameSync(next, file);
  };
}

/**
 * HAProxy beside us (docker compose: a sidecar sharing our network and a directory), started as
 *   haproxy -W -db -S <dir>/master.sock -f <dir>/haproxy.cfg
 * once the configuration is there. We write the file; a reload is the master CLI's "reload".
 * No `haproxy -c` here (the binary is in the other container): the generated file is checked by the tests.
 */
export async function attachHaproxy(dir: string, config: Render, waitMs = 120_000): Promise<HaproxyProcess> {
  const socket = path.join(dir, 'admin.sock');
  const write = writer(path.join(dir, 'haproxy.cfg'));
  const never = new Promise<never>(() => {});
  // A number of our own to start from: a sidecar left running by a previous balancer serves
  // that one's file (another internal port, another log port), which must not pass for ours.
  let generation = randomInt(1, 2 ** 30);
  write(config(socket, generation));
  // Any worker at all: a sidecar that outlived a previous balancer may serve that one's file.
  const deadline = Date.now() + waitMs;
  while ((await workerGeneration(socket)) === null) {
    if (Date.now() > deadline) throw new Error(`no HAProxy answered on ${socket}: with BALANCER=haproxy, start the haproxy service too (docker compose --profile haproxy)`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const sidecar: HaproxyProcess = {
    child: null,
    socket,
    async reload() {
      write(config(socket, ++generation));
      // The master may drop this connection as it re-executes: the worker on the new file is the answer.
      const trigger = () => ask(path.join(dir, 'master.sock'), 'reload').catch(() => '');
      await reloadUntilServed(trigger, socket, generation, never, () => 'HAProxy did not start a worker on the new configuration within 27 s');
    },
    // The sidecar's lifecycle is its container's.
    async close() {},
  };
  if ((await workerGeneration(socket)) !== generation) await sidecar.reload();
  return sidecar;
}

/** Starts `haproxy -W` on a configuration of ours, in a private directory (it holds the proxy token). */
export async function startHaproxy(options: HaproxyOptions): Promise<HaproxyProcess> {
  const bin = options.bin ?? 'haproxy';
  const dir = mkdtempSync(path.join(tmpdir(), 'coatcheck-haproxy-'));
  const socket = path.join(dir, 'admin.sock');
  const file = path.join(dir, 'haproxy.cfg');
  const write = writer(file, (next) => check(bin, next));
  const tail: string[] = [];
  let generation = 1;
  try {
    write(options.config(socket, generation));
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  // -W: a master that stays and re-executes itself on SIGUSR2, starting new workers while the old
  // ones finish their connections. -db: in the foreground, logs on our pipes.
  const child = spawn(bin, ['-W', '-db', '-f', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  for (const stream of ['stdout', 'stderr'] as const) {
    let buffered = '';
    child[stream].setEncoding('utf8');
    child[stream].on('data', (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (stream === 'stderr') {
          tail.push(line);
          if (tail.length > 10) tail.shift();
        }
        options.onLine(line, stream);
      }
    });
  }
  const exited = new Promise<never>((_, reject) => {
    child.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'ENOENT' ? new ConfigError(HAPROXY_MISSING) : err));
    child.once('exit', (code, signal) => reject(new Error(`haproxy exited (${signal ?? `code ${code}`}): ${tail.join(' | ')}`)));
  });
  exited.catch(() => {});

  try {
    await workerOn(socket, generation, exited, () => `haproxy did not start within 15 s: ${tail.join(' | ')}`, 15_000);
  } catch (err) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }

  return {
    child,
    socket,
    async reload() {
      write(options.config(socket, ++generation));
      const failure = () => `haproxy did not start a worker on the new configuration within 27 s: ${tail.join(' | ')}`;
      await reloadUntilServed(() => void child.kill('SIGUSR2'), socket, generation, exited, failure);
    },
    async close() {
      if (child.exitCode === null && child.signalCode === null) {
        const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        // SIGUSR1: a soft stop (workers finish what they serve); SIGKILL if that takes long.
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        child.kill('SIGUSR1');
        await gone;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
