import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Lab } from '../scripts/lab.js';
import { buildApp } from '../services/app.js';
import { loadConfig } from '../services/config.js';
import { Client } from './helpers/http.js';
import { httpsRequest, rawRequest } from './helpers/hardening.js';
import { startTestLab } from './helpers/lab.js';

// What a same-site page (another port on this host) can still try, through the real lab.

describe('state-changing requests from another origin are refused (redis mode, 2 instances)', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await startTestLab({ mode: 'redis', instances: 2, balancerEnv: { HTTPS_PORT: '0' } });
  });
  afterAll(() => lab?.close());

  const sameSitePage = 'http://127.0.0.1:5173';

  it.each([
    ['an Origin of another port', { origin: sameSitePage }],
    ['Sec-Fetch-Site: same-site', { 'sec-fetch-site': 'same-site' }],
    ['Sec-Fetch-Site: cross-site', { 'sec-fetch-site': 'cross-site' }],
    ['Origin: null (a sandboxed frame)', { origin: 'null' }],
  ])('POST /logout, /logout/everywhere, /cart and /login with %s: 403, and the session lives on', async (_what, headers) => {
    const victim = new Client(lab.url);
    expect((await victim.login('bob', 'builder')).status).toBe(200);
    for (const [path, body] of [['/logout', undefined], ['/logout/everywhere', undefined], ['/cart', { item: 'x' }], ['/login', { username: 'bob', password: 'builder' }]] as const) {
      const answer = await victim.request('POST', path, body, headers);
      expect(answer.status, path).toBe(403);
      expect(answer.json.error).toBe('cross_origin_request');
    }
    expect((await victim.profile()).json).toMatchObject({ username: 'bob', cart: [] });
  });

  it('the lab’s own pages (same origin) and clients that send neither header (curl, httpx) keep working', async () => {
    const page = new Client(lab.url);
    const own = { origin: lab.url, 'sec-fetch-site': 'same-origin' };
    expect((await page.request('POST', '/login', { username: 'bob', password: 'builder' }, own)).status).toBe(200);
    expect((await page.request('POST', '/cart', { item: 'tea' }, own)).status).toBe(200);
    expect((await page.request('POST', '/logout', undefined, own)).json.loggedOut).toBe(true);
    // A GET from anywhere is not refused: it changes nothing.
    expect((await page.request('GET', '/profile', undefined, { origin: sameSitePage, 'sec-fetch-site': 'same-site' })).status).toBe(401);
    // curl / httpx: no Origin, no Sec-Fetch-Site, no body on logout.
    const curl = new Client(lab.url);
    expect((await curl.login()).status).toBe(200);
    expect((await curl.logout()).json.loggedOut).toBe(true);
  });

  it('over HTTPS the own origin is https://…; the http:// origin of the same host is another origin', async () => {
    const own = new URL(lab.httpsUrl!).origin;
    const ok = await httpsRequest(`${lab.httpsUrl}/login`, { method: 'POST', headers: { origin: own }, body: { username: 'bob', password: 'builder' } });
    expect(ok.status).toBe(200);
    const plain = own.replace('https:', 'http:');
    const refused = await httpsRequest(`${lab.httpsUrl}/login`, { method: 'POST', headers: { origin: plain }, body: { username: 'bob', password: 'builder' } });
    expect(refused.status).toBe(403);
  });

  it('X-Content-Type-Options: nosniff on every answer: an instance’s, the balancer’s own, the lab page’s', async () => {
    const answers = await Promise.all([
      fetch(`${lab.url}/profile`),
      fetch(`${lab.url}/health`),
      fetch(`${lab.url}/_control/crash`, { method: 'POST' }),
      fetch(`${lab.url}/__lab/user`),
      fetch(`${lab.url}/__lab/nothing`),
    ]);
    for (const answer of answers) expect(answer.headers.get('x-content-type-options'), answer.url).toBe('nosniff');
    const malformed = await rawRequest(lab.url, 'NOT-HTTP AT ALL\r\n\r\n');
    expect(malformed.text).toMatch(/x-content-type-options: nosniff/i);
  });

  it('/__lab/user may be framed by the dashboard’s origin only (frame-ancestors)', async () => {
    const csp = (await fetch(`${lab.url}/__lab/user`)).headers.get('content-security-policy') ?? '';
    const ancestors = /frame-ancestors ([^;]+)/.exec(csp)?.[1]?.split(' ') ?? [];
    const adminPort = new URL(lab.adminUrl).port;
    expect(ancestors).toContain(`http://127.0.0.1:${adminPort}`);
    expect(ancestors).toContain(`http://localhost:${adminPort}`);
    expect(ancestors.every((origin) => origin.endsWith(`:${adminPort}`))).toBe(true);
    expect(ancestors).not.toContain('*');
  });

  it('a long request path reaches the dashboard’s traffic list bounded', async () => {
    const long = `/${'x'.repeat(15_000)}`;
    expect((await fetch(lab.url + long)).status).toBe(404);
    // What the dashboard is sent: the snapshots of its event stream, read until the request shows up.
    const events = await fetch(`${lab.adminUrl}/api/events`);
    const reader = events.body!.getReader();
    let text = '';
    let recent: Array<{ path: string }> = [];
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && !recent.some((r) => r.path.startsWith('/xxxx'))) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
      for (const line of text.split('\n')) {
        if (!line.startsWith('data: ')) continue;
        try {
          const snapshot = JSON.parse(line.slice(6)) as { instances?: Array<{ recent?: Array<{ path: string }> }> };
          recent = snapshot.instances?.flatMap((i) => i.recent ?? []) ?? recent;
        } catch {
          /* a line cut in two: the rest comes with the next chunk */
        }
      }
      text = text.slice(text.lastIndexOf('\n') + 1);
    }
    await reader.cancel();
    expect(recent.some((r) => r.path.startsWith('/xxxx'))).toBe(true);
    expect(Math.max(...recent.map((r) => r.path.length))).toBeLessThanOrEqual(64);
  });
});

describe('a runtime store switch never revives a logged-out session', () => {
  const CONTROL_TOKEN = 'probe-control-token-0123456789';
  let app: FastifyInstance;
  beforeAll(async () => {
    const config = loadConfig({
      INSTANCE_ID: 'app-switch',
      SESSION_SECRET: randomBytes(32).toString('hex'),
      CONTROL_TOKEN,
      REDIS_URL: inject('redisUrl'),
      REDIS_KEY_PREFIX: `test:switch:${randomBytes(4).toString('hex')}:`,
    });
    app = await buildApp(config);
  });
  afterAll(() => app?.close());

  const switchTo = async (store: string) => {
    const answer = await app.inject({ method: 'PUT', url: '/_control/store', headers: { authorization: `Bearer ${CONTROL_TOKEN}` }, payload: { store } });
    expect(answer.statusCode).toBe(200);
  };

  it('log in (memory), switch to redis, log out, switch back: the copied cookie gets 401', async () => {
    const login = await app.inject({ method: 'POST', url: '/login', payload: { username: 'bob', password: 'builder' } });
    const cookie = String([login.headers['set-cookie']].flat()[0]).split(';')[0]!;
    expect((await app.inject({ method: 'GET', url: '/profile', headers: { cookie } })).statusCode).toBe(200);
    await switchTo('redis');
    expect((await app.inject({ method: 'POST', url: '/logout', headers: { cookie } })).statusCode).toBe(200);
    await switchTo('memory');
    const copied = await app.inject({ method: 'GET', url: '/profile', headers: { cookie } });
    expect(copied.statusCode).toBe(401);
    expect(copied.json().reason).toBe('unknown_session');
  });
});
