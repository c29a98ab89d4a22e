import { spawn, execFileSync } from 'node:child_process';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { Client } from './helpers/http.js';
import { waitFor } from './helpers/lab.js';

/** Every descendant of a process, from ps: what Ctrl-C must leave nothing of. */
function descendants(pid: number): number[] {
  const rows = execFileSync('ps', ['-eo', 'pid=,ppid='], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((line) => line.trim().split(/\s+/).map(Number) as [number, number]);
  const found: number[] = [];
  const walk = (parent: number) => {
    for (const [child, ppid] of rows) {
      if (ppid === parent) {
        found.push(child);
        walk(child);
      }
    }
  };
  walk(pid);
  return found;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const portBound = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });

function startLauncher(args: string[], env: NodeJS.ProcessEnv = process.env) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', () => output.includes('Ctrl-C stops everything') && resolve());
    void exited.then(() => reject(new Error(`launcher exited early:\n${output}`)));
  });
  ready.catch(() => undefined); // awaited only by the tests that expect a start
  return { child, ready, exited, output: () => output };
}

describe('npm start (the launcher)', () => {
  it('starts the lab in redis mode, prints a banner, and Ctrl-C leaves no process or port behind', async () => {
    // Port 0: the lab binds free ports itself and the banner says which (no port found free, then taken).
    const launcher = startLauncher(['--mode', 'redis', '--instances', '2', '--port', '0', '--admin-port', '0']);
    await launcher.ready;
    const port = Number(/balancer +http:\/\/localhost:(\d+)/.exec(launcher.output())?.[1]);
    const adminPort = Number(/admin +http:\/\/127\.0\.0\.1:(\d+)/.exec(launcher.output())?.[1]);
    expect(port).toBeGreaterThan(0);
    expect(adminPort).toBeGreaterThan(0);
    expect(launcher.output()).toContain('mode redis');
    expect(launcher.output()).toContain('(started by the lab)');

    const client = new Client(`http://127.0.0.1:${port}`);
    expect((await client.login()).status).toBe(200);
    expect((await client.profile()).status).toBe(200);

    const children = descendants(launcher.child.pid!);
    // 2 instances + balancer + redis-server at least.
    expect(children.length).toBeGreaterThanOrEqual(4);

    const started = Date.now();
    launcher.child.kill('SIGINT');
    expect(await launcher.exited).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
    // Helpers of the children (tsx's esbuild service) exit when their parent's pipe closes, a moment later.
    await waitFor(() => children.filter(alive).length === 0, 'every child process to exit', 5000).catch(() => undefined);
    expect(children.filter(alive)).toEqual([]);
    expect(await portBound(port)).toBe(false);
    expect(await portBound(adminPort)).toBe(false);
  });

  it('fails at once, saying how to get Redis, when redis mode has no redis-server', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: '/nonexistent' };
    delete env.REDIS_URL;
    const launcher = startLauncher(['--mode', 'redis', '--port', '0'], env);
    expect(await launcher.exited).toBe(1);
    expect(launcher.output()).toMatch(/redis-server was not found on PATH.*apt-get install redis-server.*docker compose up/s);
  });

  it('says which port is taken, and how to choose another, when the public port is in use', async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const taken = (holder.address() as net.AddressInfo).port;
    try {
      const launcher = startLauncher(['--port', String(taken), '--admin-port', '0']);
      expect(await launcher.exited).toBe(1);
      expect(launcher.output()).toContain(`the public port ${taken} on 127.0.0.1 is already in use`);
      expect(launcher.output()).toContain('npm start -- --port');
    } finally {
      holder.close();
    }
  });

  it('rejects a bad option with a message and the usage', async () => {
    const launcher = startLauncher(['--mode', 'chaos']);
    expect(await launcher.exited).toBe(2);
    expect(launcher.output()).toContain('--mode must be one of memory, sticky, redis');
  });
});
