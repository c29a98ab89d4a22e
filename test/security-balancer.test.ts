import { once } from 'node:events';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBalancer, type Balancer } from '../proxy/balancer/index.js';
import { loadBalancerConfig } from '../proxy/config.js';
import type { Lab } from '../scripts/lab.js';
import { startEcho } from './helpers/echo.js';
import { balancerState, rawRequest } from './helpers/hardening.js';
import { waitFor, startTestLab } from './helpers/lab.js';

/** The status line and the header block of a raw answer, lower-cased header names. */
function head(text: string): { status: number; headers: string } {
  const end = text.indexOf('\r\n\r\n');
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), headers: (end < 0 ? text : text.slice(0, end)).toLowerCase() };
}

const raw = (url: string, method: string, target: string, extra = '') =>
  rawRequest(url, `${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n${extra}Connection: close\r\n\r\n`).then((r) => head(r.text));

describe('the public port never reaches an instance\'s /_control routes, in any spelling (real processes)', () => {
  let lab: Lab;
  const stderr: string[] = [];
  let crashed = 0;
  beforeAll(async () => {
    lab = await startTestLab({
      mode: 'memory',
      instances: 2,
      balancerEnv: { MAX_CONNECTIONS_PER_CLIENT: '8' },
      onLine: (name, line, stream) => {
        if (stream === 'stderr') stderr.push(`[${name}] ${line}`);
      },
    });
    lab.on('crashed', () => crashed++);
  });
  afterAll(() => lab?.close());

  it.each([
    ['POST', '/_control/crash'],
    ['POST', '//_control/crash'],
    ['POST', '///_control/crash'],
    ['POST', '/%5Fcontrol/crash'],
    ['POST', '/./_control/crash'],
    ['POST', '/_CONTROL/crash'],
    ['POST', '/%2F_control/crash'],
    ['POST', '/\\_control/crash'],
    ['POST', '/%5C_control/crash'],
    ['POST', '/%255Fcontrol/crash'],
    ['POST', '/a/../_control/crash'],
    ['POST', '//_control/seed'],
    ['PUT', '/_control/store'],
    ['POST', 'http://evil.example/_control/crash'],
    ['POST', 'http://127.0.0.1/_control/crash'],
  ])('%s %s: the balancer\'s own 404/400, no instance involved', async (method, target) => {
    const answer = await raw(lab.url, method, target);
    expect([400, 404]).toContain(answer.status);
    expect(answer.headers).not.toContain('x-served-by');
    expect(answer.headers).toContain('content-type: application/json');
  });

  it('CONNECT (authority form): the socket is closed, no instance involved', async () => {
    const answer = await raw(lab.url, 'CONNECT', '127.0.0.1:80');
    expect(answer.headers).not.toContain('x-served-by');
  });

  it('no instance was crashed, and every one is still up', async () => {
    expect(crashed).toBe(0);
    for (const instance of lab.instances) expect(instance.child.exitCode).toBeNull();
    const state = await balancerState(lab);
    expect(state.instances.every((i) => i.up)).toBe(true);
  });

  it('ordinary paths with query strings still reach an instance, as the canonical path', async () => {
    for (const target of ['/health?probe=1', '//health', '/./health', '/%68ealth?x=%2F']) {
      const answer = await raw(lab.url, 'GET', target);
      expect(answer.status, target).toBe(200);
      expect(answer.headers).toMatch(/x-served-by: app-\d/);
    }
    const profile = await raw(lab.url, 'GET', '/a/../profile?next=/x');
    expect(profile.status).toBe(401);
    expect(profile.headers).toMatch(/x-served-by: app-\d/);
  });

  it('a client holding its whole share of the public port: its next connection is closed, the admin port still answers', async () => {
    const { port } = new URL(lab.url);
    const held: net.Socket[] = [];
    try {
      for (let i = 0; i < 8; i++) {
        const socket = net.connect(Number(port), '127.0.0.1');
        socket.on('error', () => {});
        await once(socket, 'connect');
        held.push(socket);
      }
      const extra = net.connect(Number(port), '127.0.0.1');
      extra.on('error', () => {});
      held.push(extra);
      await once(extra, 'close');
      expect((await lab.admin.state()).instances).toHaveLength(2);
    } finally {
      for (const socket of held) socket.destroy();
    }
    await waitFor(async () => (await fetch(`${lab.url}/health`).then((r) => r.status, () => 0)) === 200, 'the public port to serve again');
  });

  it('no process printed a deprecation warning under this Node (url.parse, util._extend in http-proxy, Fastify options)', () => {
    expect(stderr.filter((line) => /Deprecation|\[(FST)?DEP\d+\]/.test(line))).toEqual([]);
  });
});

/** An instance stand-in that reports healthy and echoes the request line and headers it got. */
interface LogLine {
  level: string;
  args: unknown[];
}

/** A balancer in this process, in front of the echo stand-in, with its log captured. */
async function startBalancer(echoUrl: string, env: Record<string, string> = {}): Promise<{ balancer: Balancer; url: string; log: LogLine[] }> {
  const log: LogLine[] = [];
  const logger = Object.fromEntries(['debug', 'info', 'warn', 'error'].map((level) => [level, (...args: unknown[]) => log.push({ level, args })])) as never;
  const balancer = createBalancer(loadBalancerConfig({ INSTANCES: `echo=${echoUrl}`, PORT: '0', ...env }), logger);
  balancer.server.listen(0, '127.0.0.1');
  await once(balancer.server, 'listening');
  return { balancer, url: `http://127.0.0.1:${(balancer.server.address() as net.AddressInfo).port}`, log };
}

describe('header hygiene, aborted uploads and connection caps (a balancer in process, an echo instance)', () => {
  let echo: Awaited<ReturnType<typeof startEcho>>;
  beforeAll(async () => {
    echo = await startEcho();
  });
  afterAll(() => echo?.server.close());

  it('Forwarded, X-Real-IP, Connection and every header it names, Keep-Alive, Proxy-Connection, TE and Upgrade never reach the instance', async () => {
    const { balancer, url } = await startBalancer(echo.url);
    try {
      const answer = await rawRequest(
        url,
        'GET /echo?x=1 HTTP/1.1\r\nHost: shop.example\r\n' +
          'Forwarded: for=6.6.6.6;proto=https\r\nX-Real-IP: 6.6.6.6\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\n' +
          'X-Secret-Hop: 1\r\nX-Other-Hop: 2\r\nKeep-Alive: timeout=99\r\nProxy-Connection: keep-alive\r\nTE: gzip\r\nUpgrade: websocket\r\n' +
          'X-Kept: yes\r\nConnection: close, X-Secret-Hop, x-other-hop, content-length\r\n\r\n',
      );
      expect(head(answer.text).status).toBe(200);
      const got = echo.seen.at(-1)!;
      expect(got.url).toBe('/echo?x=1');
      for (const name of ['forwarded', 'x-real-ip', 'x-secret-hop', 'x-other-hop', 'keep-alive', 'proxy-connection', 'te', 'upgrade']) {
        expect(got.headers[name], name).toBeUndefined();
      }
      // The only client-identity headers are the balancer's own.
      expect(got.headers['x-forwarded-for']).toBe('127.0.0.1');
      expect(got.headers['x-forwarded-proto']).toBe('http');
      expect(got.headers['x-kept']).toBe('yes');
      // The client's "close" is about its socket; ours to the instance stays kept alive.
      expect(got.headers.connection ?? 'keep-alive').toBe('keep-alive');
      expect(head(answer.text).headers).toContain('connection: close');
    } finally {
      await balancer.close();
    }
  });

  it('TE: trailers is end-to-end and passes; a POST body still arrives whole', async () => {
    const { balancer, url } = await startBalancer(echo.url);
    try {
      const response = await fetch(`${url}/echo`, { method: 'POST', headers: { te: 'trailers', 'content-type': 'application/json' }, body: '{"a":1}' });
      expect(response.status).toBe(200);
      const got = echo.seen.at(-1)!;
      expect(got.headers.te).toBe('trailers');
      expect(got.headers['content-length']).toBe('7');
    } finally {
      await balancer.close();
    }
  });

  it('an aborted upload logs nothing above debug and writes nothing to the dead socket', async () => {
    const { balancer, url, log } = await startBalancer(echo.url);
    try {
      const { port } = new URL(url);
      for (let i = 0; i < 20; i++) {
        const socket = net.connect(Number(port), '127.0.0.1');
        await once(socket, 'connect');
        socket.write('POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"user');
        await new Promise((r) => setTimeout(r, 10));
        socket.destroy();
      }
      await waitFor(() => log.filter((l) => l.level === 'debug').length >= 20, 'a debug line per aborted upload');
      expect(log.filter((l) => l.level !== 'debug')).toEqual([]);
      expect((await fetch(`${url}/echo`)).status).toBe(200);
      expect(balancer.stats.failed).toBe(0);
    } finally {
      await balancer.close();
    }
  });

  it('caps connections per client address and in total; excess ones are closed at once, others still served', async () => {
    const { balancer, url } = await startBalancer(echo.url, { MAX_CONNECTIONS: '6', MAX_CONNECTIONS_PER_CLIENT: '3' });
    const { port } = new URL(url);
    const held: net.Socket[] = [];
    // Loopback has a whole /8: other source addresses stand in for other clients.
    const open = async (localAddress: string) => {
      const socket = net.connect({ port: Number(port), host: '127.0.0.1', localAddress });
      socket.on('error', () => {});
      await once(socket, 'connect');
      held.push(socket);
      return socket;
    };
    const closedSoon = (socket: net.Socket) =>
      new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 1500);
        socket.once('close', () => {
          clearTimeout(timer);
          resolve(true);
        });
      });
    try {
      for (let i = 0; i < 3; i++) await open('127.0.0.2');
      expect(await closedSoon(await open('127.0.0.2'))).toBe(true); // a 4th from the same address
      for (let i = 0; i < 3; i++) await open('127.0.0.3');
      expect(await closedSoon(await open('127.0.0.4'))).toBe(true); // a 7th in total
      // A slot frees up when a client lets go.
      for (const socket of held) socket.destroy();
      await waitFor(async () => (await fetch(`${url}/echo`).then((r) => r.status, () => 0)) === 200, 'a normal request to be served again');
    } finally {
      for (const socket of held) socket.destroy();
      await balancer.close();
    }
  });
});
