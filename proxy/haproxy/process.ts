import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigError } from '../../services/vocabulary.js';

export const HAPROXY_MISSING = 'BALANCER=haproxy needs the haproxy program on PATH: install Debian\'s "haproxy" package (apt-get install haproxy), or use the Node balancer (--balancer node)';

/** The haproxy master process (-W, master-worker) and the files it reads. */
export interface HaproxyProcess {
  /** Null when HAProxy runs beside us (a compose sidecar), not as our child. */
  readonly child: ChildProcess | null;
  /** The runtime API socket, for the configuration's `stats socket`. */
  readonly socket: string;
  /** Writes the configuration and has the master start a worker on it; resolves once that worker answers. */
  reload(config: string): Promise<void>;
  close(): Promise<void>;
}

export interface HaproxyOptions {
  /** The configuration's text, given the runtime socket's path. */
  config: (socket: string) => string;
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

/** The worker that answers on the socket: its pid, or null while none does. */
async function workerPid(socket: string): Promise<number | null> {
  try {
    const match = /^Pid: (\d+)$/m.exec(await ask(socket, 'show info'));
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

/** Resolves with the pid of a worker other than `previous` once one answers on the runtime socket. */
async function newWorker(socket: string, previous: number | null, exited: Promise<never>, failure: () => string, timeoutMs = 15_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const pid = await Promise.race([workerPid(socket), exited]);
    if (pid !== null && pid !== previous) return pid;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(failure());
}

/**
 * HAProxy beside us (docker compose: a sidecar sharing our network and a directory), started as
 *   haproxy -W -db -S <dir>/master.sock -f <dir>/haproxy.cfg
 * once the configuration is there. We write the file; a reload is the master CLI's "reload".
 * No `haproxy -c` here (the binary is in the other container): the generated file is checked by the tests.
 */
export async function attachHaproxy(dir: string, config: (socket: string) => string, waitMs = 120_000): Promise<HaproxyProcess> {
  const socket = path.join(dir, 'admin.sock');
  const file = path.join(dir, 'haproxy.cfg');
  const write = (text: string) => {
    writeFileSync(`${file}.next`, text, { mode: 0o600 });
    renameSync(`${file}.next`, file);
  };
  const never = new Promise<never>(() => {});
  write(config(socket));
  let current = await newWorker(socket, null, never, () => `no HAProxy answered on ${socket}: with BALANCER=haproxy, start the haproxy service too (docker compose --profile haproxy)`, waitMs);
  const sidecar: HaproxyProcess = {
    child: null,
    socket,
    async reload(text) {
      write(text);
      // The master re-executes itself on "reload": just after one, its CLI may not listen yet, or
      // drop the command. The new worker is the only answer that counts; ask again until it comes.
      for (let attempt = 1; ; attempt++) {
        await ask(path.join(dir, 'master.sock'), 'reload').catch(() => '');
        try {
          current = await newWorker(socket, current, never, () => 'HAProxy did not start a worker on the new configuration within 15 s', attempt < 8 ? 2000 : 15_000);
          return;
        } catch (err) {
          if (attempt >= 8) throw err;
        }
      }
    },
    // The sidecar's lifecycle is its container's.
    async close() {},
  };
  // A sidecar that outlived a previous balancer may still serve that one's file: reload on ours.
  await sidecar.reload(config(socket));
  return sidecar;
}

/** Starts `haproxy -W` on a configuration of ours, in a private directory (it holds the proxy token). */
export async function startHaproxy(options: HaproxyOptions): Promise<HaproxyProcess> {
  const bin = options.bin ?? 'haproxy';
  const dir = mkdtempSync(path.join(tmpdir(), 'coatcheck-haproxy-'));
  const socket = path.join(dir, 'admin.sock');
  const file = path.join(dir, 'haproxy.cfg');
  const write = (config: string) => {
    // Written aside and renamed: the master re-reads the file on reload and must never see half of it.
    const next = `${file}.next`;
    writeFileSync(next, config, { mode: 0o600 });
    check(bin, next);
    renameSync(next, file);
  };
  const tail: string[] = [];
  try {
    write(options.config(socket));
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

  const workerOtherThan = (previous: number | null, what: string) => newWorker(socket, previous, exited, () => `haproxy did not ${what} within 15 s: ${tail.join(' | ')}`);

  let current: number | null = null;
  try {
    current = await workerOtherThan(null, 'start');
  } catch (err) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }

  return {
    child,
    socket,
    async reload(config) {
      write(config);
      child.kill('SIGUSR2');
      current = await workerOtherThan(current, 'start a worker on the new configuration');
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
