import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAccessLine } from '../proxy/haproxy/access-log.js';
import { haproxyConfig, type HaproxySettings } from '../proxy/haproxy/config.js';
import { attachHaproxy, startHaproxy, type HaproxyProcess } from '../proxy/haproxy/process.js';
import { ConfigError, ROUTING_KINDS } from '../services/vocabulary.js';
import { freePort } from '../scripts/lib/free-port.js';
import { startEcho } from './helpers/echo.js';
import { rawRequest } from './helpers/hardening.js';

const settings = (over: Partial<HaproxySettings> = {}): HaproxySettings => ({
  generation: 1,
  host: '127.0.0.1',
  port: 8080,
  routing: 'round-robin',
  servers: [
    { id: 'app-1', url: 'http://127.0.0.1:3001', admitted: true },
    { id: 'app-2', url: 'http://127.0.0.1:3002', admitted: false },
  ],
  statsSocket: '/tmp/x/admin.sock',
  labPage: undefined,
  trustProxyToken: 'proof',
  affinityCookie: 'coatcheck_lb',
  healthIntervalMs: 1000,
  proxyTimeoutMs: 10_000,
  headersTimeoutMs: 10_000,
  maxBodyBytes: 65_536,
  maxConnections: 4096,
  accessLog: true,
  ...over,
});

const backend = (text: string) => text.slice(text.indexOf('backend instances'));

describe('haproxyConfig (pure)', () => {
  it('routes as the Node strategies do, for each routing kind', () => {
    expect(backend(haproxyConfig(settings({ routing: 'round-robin' })))).toContain('balance roundrobin');
    const sticky = backend(haproxyConfig(settings({ routing: 'cookie' })));
    expect(sticky).toContain('cookie coatcheck_lb insert indirect nocache httponly attr SameSite=Lax');
    expect(sticky).toContain('server app-1 127.0.0.1:3001 cookie app-1');
    expect(backend(haproxyConfig(settings({ routing: 'ip-hash' })))).toMatch(/balance source\n\s+hash-type map-based/);
    expect(backend(haproxyConfig(settings({ routing: 'consistent-hash' })))).toMatch(/balance source\n\s+hash-type consistent/);
    // No affinity cookie outside cookie routing.
    expect(haproxyConfig(settings({ routing: 'round-robin' }))).not.toContain('cookie coatcheck_lb');
  });

  it('keeps an instance that is not admitted in the file, disabled; checks health on /health', () => {
    const text = haproxyConfig(settings());
    expect(text).toMatch(/server app-2 127\.0\.0\.1:3002 disabled/);
    expect(text).toContain('option httpchk GET /health');
    expect(text).toMatch(/default-server check inter 1000ms/);
    // The worker's `show info` says which file it runs: a reload is done when it names the new one.
    expect(haproxyConfig(settings({ generation: 7 }))).toContain('  description coatcheck-config-7\n');
  });

  it('refuses names HAProxy would read as syntax', () => {
    expect(() => haproxyConfig(settings({ servers: [{ id: 'app 1', url: 'http://127.0.0.1:1', admitted: true }] }))).toThrow(ConfigError);
    expect(() => haproxyConfig(settings({ affinityCookie: 'a;b' }))).toThrow(ConfigError);
  });

  it('reads its own access log format, and nothing else', () => {
    expect(parseAccessLine('instances app-2 401 0 GET /profile')).toEqual({ backend: 'instances', server: 'app-2', status: 401, retries: 0, method: 'GET', path: '/profile' });
    expect(parseAccessLine('instances app-1 200 +1 POST /login')).toMatchObject({ server: 'app-1', retries: 1 });
    expect(parseAccessLine('public <NOSRV> 503 2 GET /profile')).toMatchObject({ server: null, status: 503 });
    expect(parseAccessLine(`instances app-1 200 0 GET /${'x'.repeat(200)}`)!.path.length).toBeLessThanOrEqual(64);
    expect(parseAccessLine('[NOTICE]   (1) : New worker (2) forked')).toBeNull();
  });

  it('is a valid HAProxy configuration for every routing (haproxy -c)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'coatcheck-haproxy-test-'));
    try {
      for (const routing of ROUTING_KINDS) {
        const file = path.join(dir, `${routing}.cfg`);
        writeFileSync(file, haproxyConfig(settings({ routing, statsSocket: path.join(dir, 'admin.sock'), labPage: { host: '127.0.0.1', port: 1 } })));
        const result = spawnSync('haproxy', ['-c', '-q', '-f', file], { encoding: 'utf8' });
        expect(result.stderr, routing).toBe('');
        expect(result.status, routing).toBe(0);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the generated configuration in a real haproxy, in front of an echo instance', () => {
  let echo: Awaited<ReturnType<typeof startEcho>>;
  let haproxy: HaproxyProcess;
  let url: string;
  const log: string[] = [];
  beforeAll(async () => {
    echo = await startEcho();
    const port = await freePort();
    // A second server nobody listens on: refused connections go to the echo instead (retry + redispatch).
    const deadPort = await freePort();
    haproxy = await startHaproxy({
      config: (statsSocket, generation) =>
        haproxyConfig(
          settings({
            generation,
            port,
            statsSocket,
            servers: [
              { id: 'dead', url: `http://127.0.0.1:${deadPort}`, admitted: true },
              { id: 'echo', url: echo.url, admitted: true },
            ],
          }),
        ),
      onLine: (line) => log.push(line),
    });
    url = `http://127.0.0.1:${port}`;
  });
  afterAll(async () => {
    await haproxy?.close();
    echo?.server.close();
  });

  it('replaces X-Forwarded-For (and every client identity header) instead of appending to it, and adds the proxy token', async () => {
    const answer = await rawRequest(
      url,
      'GET /who HTTP/1.1\r\nHost: shop.example\r\nX-Forwarded-For: 6.6.6.6\r\nForwarded: for=6.6.6.6\r\nX-Real-IP: 6.6.6.6\r\nX-Forwarded-Proto: https\r\nx-coatcheck-proxy-token: forged\r\nConnection: close\r\n\r\n',
    );
    expect(answer.status).toBe(200);
    const got = echo.seen.filter((s) => s.url === '/who').at(-1)!;
    expect(got.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(got.headers['x-forwarded-proto']).toBe('http');
    expect(got.headers.forwarded).toBeUndefined();
    expect(got.headers['x-real-ip']).toBeUndefined();
    expect(got.headers['x-coatcheck-proxy-token']).toBe('proof');
  });

  it('never lets /_control through, in any spelling', async () => {
    for (const target of ['/_control/health', '/%5Fcontrol/health', '/%255Fcontrol/health', '/_CONTROL/store', '//_control/store', '/x/../_control/store', 'http://evil.example/_control/store']) {
      // An absolute-form target must name the Host it is sent with, or HAProxy refuses it (400) before any rule.
      const answer = await rawRequest(url, `GET ${target} HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n`);
      expect(answer.status, target).toBe(404);
      expect(answer.text, target).toContain('"error":"not_found"');
    }
    expect(echo.seen.filter((s) => s.url.toLowerCase().includes('control'))).toEqual([]);
  });

  it('answers 413 to a body over the limit and 431 to oversized headers, as JSON', async () => {
    const big = await fetch(`${url}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: 'x'.repeat(70_000) });
    expect(big.status).toBe(413);
    expect(((await big.json()) as { error: string }).error).toBe('body_too_large');
    const headers = await fetch(`${url}/profile`, { headers: { 'x-big': 'y'.repeat(20_000) } });
    expect(headers.status).toBe(431);
    await headers.body?.cancel();
  });

  it('sends a refused request on to another instance: every read and write gets an answer', async () => {
    for (let i = 0; i < 6; i++) {
      expect((await fetch(`${url}/ping-${i}`)).status).toBe(200);
      expect((await fetch(`${url}/login`, { method: 'POST', body: '{}' })).status).toBe(200);
    }
    // The access log says who answered: the echo, never the dead server.
    const served = log.map(parseAccessLine).filter((e) => e?.path.startsWith('/ping-'));
    expect(served.map((e) => e?.server)).toEqual(Array(6).fill('echo'));
  });

  it('answers 503 with Retry-After when no instance is up', async () => {
    const port = await freePort();
    // Port 1: nothing listens there (only root could), so every connection is refused.
    const nowhere = await startHaproxy({
      config: (statsSocket, generation) => haproxyConfig(settings({ generation, port, statsSocket, servers: [{ id: 'gone', url: 'http://127.0.0.1:1', admitted: true }] })),
      onLine: () => {},
    });
    try {
      for (const method of ['GET', 'POST']) {
        const answer = await fetch(`http://127.0.0.1:${port}/profile`, { method });
        expect(answer.status).toBe(503);
        expect(answer.headers.get('retry-after')).toBe('2');
        expect(((await answer.json()) as { error: string }).error).toBe('no_instance_available');
      }
    } finally {
      await nowhere.close();
    }
  });
});

describe('HAProxy beside us (the compose sidecar): the configuration we write, reloads through its master CLI', () => {
  it('starts on our file, and a reload puts the new routing in place', async () => {
    const echo = await startEcho();
    const dir = mkdtempSync(path.join(tmpdir(), 'coatcheck-sidecar-'));
    // The compose service's command, with the shared directory here.
    const sidecar = spawn('sh', ['-c', `until [ -f ${dir}/haproxy.cfg ]; do sleep 0.2; done; exec haproxy -W -db -S ${dir}/master.sock -f ${dir}/haproxy.cfg`], { stdio: 'ignore' });
    const port = await freePort();
    let routing: 'round-robin' | 'cookie' = 'round-robin';
    const render = (statsSocket: string, generation: number) =>
      haproxyConfig(settings({ generation, port, statsSocket, routing, accessLog: false, servers: [{ id: 'echo', url: echo.url, admitted: true }] }));
    try {
      const haproxy = await attachHaproxy(dir, render);
      const before = await fetch(`http://127.0.0.1:${port}/a`);
      expect([before.status, before.headers.getSetCookie()]).toEqual([200, []]);
      routing = 'cookie';
      await haproxy.reload();
      const after = await fetch(`http://127.0.0.1:${port}/b`);
      expect([after.status, after.headers.getSetCookie()]).toEqual([200, ['coatcheck_lb=echo; path=/; HttpOnly; SameSite=Lax']]);
      // A balancer restarted beside the same sidecar: it gets its own configuration in place, not the last one's.
      routing = 'round-robin';
      await attachHaproxy(dir, render);
      expect((await fetch(`http://127.0.0.1:${port}/c`)).headers.getSetCookie()).toEqual([]);
    } finally {
      const gone = new Promise((resolve) => sidecar.once('exit', resolve));
      sidecar.kill('SIGTERM');
      await gone;
      echo.server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
