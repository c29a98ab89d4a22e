import { request } from 'node:http';
import Fastify from 'fastify';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBalancer } from '../proxy/balancer/index.js';
import { loadBalancerConfig } from '../proxy/config.js';
import { controlPlane } from '../proxy/control/plugin.js';
import { allowedAdminHosts, hostName } from '../proxy/control/host-guard.js';
import type { Lab } from '../scripts/lab.js';
import { startTestLab, waitFor } from './helpers/lab.js';

// DNS rebinding: a page on evil.example whose name then resolves to 127.0.0.1 is same-origin with
// the admin port. Every admin route must refuse a Host it is not served under, and every write an
// Origin that is not the admin page's own; the dashboard keeps working under each loopback name.

/** Every route of the admin server, each with a body it would accept. */
const ROUTES: { method: string; path: string; body?: object }[] = [
  { method: 'GET', path: '/' },
  { method: 'GET', path: '/dashboard.js' },
  { method: 'GET', path: '/dashboard.css' },
  { method: 'GET', path: '/api/state' },
  { method: 'GET', path: '/api/events' },
  { method: 'PUT', path: '/api/mode', body: { mode: 'sticky' } },
  { method: 'PUT', path: '/api/routing', body: { routing: 'ip-hash' } },
  { method: 'PUT', path: '/api/store', body: { store: 'redis' } },
  { method: 'POST', path: '/api/instances', body: { id: 'evil', url: 'http://127.0.0.1:9' } },
  { method: 'DELETE', path: '/api/instances/app-2' },
  { method: 'POST', path: '/api/instances/app-1/crash', body: {} },
  { method: 'POST', path: '/api/instances/app-1/stop', body: {} },
  { method: 'POST', path: '/api/instances/app-1/start', body: {} },
  { method: 'POST', path: '/api/instances/app-1/remove', body: {} },
  { method: 'POST', path: '/api/lab/add-instance', body: {} },
  { method: 'PUT', path: '/api/stream', body: { rate: 5 } },
  { method: 'DELETE', path: '/api/stream' },
  { method: 'POST', path: '/api/redis/pause', body: { seconds: 5 } },
  { method: 'POST', path: '/api/redis/flush', body: {} },
  { method: 'POST', path: '/api/replay', body: { username: 'testuser', password: 'testpass' } },
  { method: 'GET', path: '/redis-topology.js' },
  { method: 'POST', path: '/api/redis/kill-primary', body: {} },
  { method: 'GET', path: '/topology.js' },
  { method: 'GET', path: '/api/race' },
  { method: 'PUT', path: '/api/race-guard', body: { on: true } },
  { method: 'POST', path: '/api/race', body: { kind: 'logout' } },
];

interface Answer {
  status: number;
  body: { error?: string; message?: string };
}

/** A raw HTTP request (fetch will not let a caller set Host), answered or not within 5 s. */
function send(base: string, route: (typeof ROUTES)[number], headers: Record<string, string>): Promise<Answer> {
  const url = new URL(route.path, base);
  return new Promise((resolve, reject) => {
    const req = request(url, { method: route.method, headers: { ...(route.body && { 'content-type': 'application/json' }), ...headers }, timeout: 5000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text || '{}') as Answer['body'] }));
    });
    req.on('timeout', () => req.destroy(new Error(`${route.method} ${route.path}: no answer`)));
    req.on('error', reject);
    req.end(route.body ? JSON.stringify(route.body) : undefined);
  });
}

describe('the admin host allow-list', () => {
  it('knows the loopback names, adds the configured ones and refuses what is not a name', () => {
    expect(allowedAdminHosts(undefined)).toEqual(['localhost', '127.0.0.1', '[::1]']);
    expect(allowedAdminHosts(' Lab.Internal ,10.0.0.5,[fd00::5]')).toEqual(['localhost', '127.0.0.1', '[::1]', 'lab.internal', '10.0.0.5', '[fd00::5]']);
    expect(() => allowedAdminHosts('lab.internal:8081')).toThrow(/ADMIN_ALLOWED_HOSTS.*without scheme or port/);
    expect(() => allowedAdminHosts('http://lab.internal')).toThrow(/ADMIN_ALLOWED_HOSTS/);
    expect(() => allowedAdminHosts('*')).toThrow(/ADMIN_ALLOWED_HOSTS/);
    expect(hostName('LOCALHOST:8081')).toBe('localhost');
    expect(hostName('[::1]:8081')).toBe('[::1]');
    expect(hostName('localhost.')).toBe('localhost');
    expect(hostName('user@localhost:8081')).toBeNull();
    expect(hostName('localhost/x')).toBeNull();
    expect(hostName('evil.example:80:80')).toBeNull();
  });
});

describe('the admin routes under test', () => {
  it('are every route the control plane serves: a new one must be added to ROUTES', async () => {
    const config = loadBalancerConfig({ INSTANCES: 'app-1=http://127.0.0.1:9' });
    const quiet = { debug() {}, info() {}, warn() {}, error() {} };
    const balancer = createBalancer(config, quiet);
    const admin = Fastify();
    const served: string[] = [];
    admin.addHook('onRoute', (route) => {
      for (const method of [route.method].flat()) if (method !== 'HEAD') served.push(`${method} ${route.url}`);
    });
    try {
      await admin.register(controlPlane, { balancer, config, log: quiet, channel: { on: () => undefined, off: () => undefined } });
      await admin.ready();
    } finally {
      await admin.close();
      await balancer.close();
    }
    const tested = ROUTES.map((r) => `${r.method} ${r.path.replace('/app-1/', '/:id/').replace(/\/app-2$/, '/:id')}`);
    expect(new Set(tested)).toEqual(new Set(served));
  });
});

describe('DNS rebinding against the admin server', () => {
  let lab: Lab;
  let browser: Browser;
  let port: string;

  beforeAll(async () => {
    [lab, browser] = await Promise.all([
      startTestLab({ mode: 'memory', instances: 2, balancerEnv: { ADMIN_ALLOWED_HOSTS: 'lab.test' } }),
      chromium.launch({
        executablePath: '/usr/bin/chromium',
        headless: true,
        // The rebinding itself: Chromium resolves these names to loopback, as a rebound DNS answer would.
        args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--host-resolver-rules=MAP evil.example 127.0.0.1, MAP lab.test 127.0.0.1'],
      }),
    ]);
    port = new URL(lab.adminUrl).port;
  });
  afterAll(async () => {
    await browser?.close();
    await lab?.close();
  });

  const pids = () => lab.instances.map((i) => i.child.pid);

  it('answers every route 421 under a name it is not served under, and nothing changes', async () => {
    const before = { state: await lab.admin.state(), pids: pids() };
    for (const route of ROUTES) {
      const answer = await send(lab.adminUrl, route, { host: `evil.example:${port}`, origin: `http://evil.example:${port}` });
      expect(answer.status, `${route.method} ${route.path}`).toBe(421);
      expect(answer.body.error).toBe('host_not_allowed');
      expect(answer.body.message).toMatch(/ADMIN_ALLOWED_HOSTS/);
    }
    const after = await lab.admin.state();
    expect(after.mode).toBe(before.state.mode);
    expect(after.instances.map((i) => i.id)).toEqual(before.state.instances.map((i) => i.id));
    expect(pids()).toEqual(before.pids);
  });

  it('refuses every write whose Origin is not the admin page itself, under an allowed Host', async () => {
    const before = { state: await lab.admin.state(), pids: pids() };
    const writes = ROUTES.filter((r) => r.method !== 'GET');
    for (const origin of [`http://evil.example:${port}`, 'http://localhost:3000', `https://127.0.0.1.evil.example:${port}`, 'null']) {
      for (const route of writes) {
        const answer = await send(lab.adminUrl, route, { host: `127.0.0.1:${port}`, origin });
        expect(answer.status, `${route.method} ${route.path} from ${origin}`).toBe(403);
        expect(answer.body.error).toBe('origin_not_allowed');
        expect(answer.body.message).toMatch(/ADMIN_ALLOWED_HOSTS/);
      }
    }
    const after = await lab.admin.state();
    expect(after.mode).toBe(before.state.mode);
    expect(pids()).toEqual(before.pids);
    // Its own origin, or none (curl, the launcher), is let through.
    const mode = ROUTES.find((r) => r.path === '/api/mode')!;
    expect((await send(lab.adminUrl, { ...mode, body: { mode: 'memory' } }, { host: `localhost:${port}`, origin: `http://localhost:${port}` })).status).toBe(200);
    expect((await send(lab.adminUrl, { ...mode, body: { mode: 'memory' } }, { host: `localhost:${port}` })).status).toBe(200);
  });

  it('in Chromium, a rebound page gets 421 and its script cannot reach the API', async () => {
    const page = await browser.newPage();
    const response = await page.goto(`http://evil.example:${port}/`);
    expect(response?.status()).toBe(421);
    // The attacker's script, same-origin with the rebound name: no preflight, still refused.
    const answer = await page.evaluate(async () => {
      const r = await fetch('/api/mode', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mode: 'sticky' }) });
      return r.status;
    });
    expect(answer).toBe(421);
    expect((await lab.admin.state()).mode).toBe('memory');
    await page.close();
  });

  for (const host of ['localhost', '127.0.0.1', '[::1]', 'lab.test']) {
    it(`in Chromium, the dashboard loads and switches the mode on http://${host}`, async () => {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (err) => errors.push(err.message));
      await page.goto(`http://${host}:${port}/`);
      await page.locator('#live', { hasText: /^live$/ }).waitFor();
      await page.locator('#mode-now', { hasText: 'memory' }).waitFor();
      await page.locator('.mode-button[data-mode="sticky"]').click();
      await page.locator('#mode-now', { hasText: 'sticky' }).waitFor();
      await waitFor(async () => (await lab.admin.state()).mode === 'sticky', 'the sticky mode');
      await lab.admin.setMode('memory');
      await page.locator('#mode-now', { hasText: 'memory' }).waitFor();
      expect(errors).toEqual([]);
      await page.close();
    });
  }
});
