import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Lab } from '../scripts/lab.js';
import { Client } from './helpers/http.js';
import { httpsRequest, parseSetCookie } from './helpers/hardening.js';
import { startTestLab } from './helpers/lab.js';

// Cookie tossing: a page on another port of the same host (any dev server on localhost) shares
// our cookies, because cookies ignore ports. It cannot read ours, but it can add its own under the
// same name at a longer path, which the browser then sends first.

const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

/** Two clients logged in: the attacker's cookie value, and the victim's client. */
async function attackerAndVictim(lab: Lab) {
  const attacker = new Client(lab.url);
  expect((await attacker.login('alice', 'wonderland')).status).toBe(200);
  const victim = new Client(lab.url);
  expect((await victim.login('bob', 'builder')).status).toBe(200);
  return { attacker, A: attacker.jar.get('sid')!, V: victim.jar.get('sid')!, victim };
}

describe('two session cookies in one request are ambiguous (redis mode, 2 instances)', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await startTestLab({ mode: 'redis', instances: 2, balancerEnv: { HTTPS_PORT: '0' } });
  });
  afterAll(() => lab?.close());

  it('POST /cart with "sid=A; sid=V" writes to no cart, re-issues no cookie, and deletes the tossed copy', async () => {
    const { attacker, A, V } = await attackerAndVictim(lab);
    const tossed = new Client(lab.url);
    const cart = await tossed.request('POST', '/cart', { item: 'victim-secret' }, { cookie: `sid=${A}; sid=${V}` });
    expect(cart.status).toBe(400);
    expect(cart.json.error).toBe('ambiguous_session_cookie');
    expect(cart.json.message).toMatch(/clear this site's cookies/);
    const lines = cart.headers.getSetCookie();
    // Never the attacker's cookie at Path=/, and the tossed copy at /cart is deleted.
    expect(lines.some((line) => line.startsWith(`sid=${A}`))).toBe(false);
    const deleted = lines.map(parseSetCookie).find((c) => c.attributes.path === '/cart');
    expect(deleted).toMatchObject({ name: 'sid', value: '' });
    expect(lines.map(parseSetCookie).some((c) => c.attributes.path === '/')).toBe(false);
    expect((await attacker.profile()).json.cart).toEqual([]);
  });

  it('GET /profile and POST /logout with two cookies are refused; neither session is touched', async () => {
    const { attacker, A, V, victim } = await attackerAndVictim(lab);
    const both = { cookie: `sid=${A}; sid=${V}` };
    const profile = await new Client(lab.url).request('GET', '/profile', undefined, both);
    expect(profile.status).toBe(400);
    expect(profile.json.username).toBeUndefined();
    const logout = await new Client(lab.url).request('POST', '/logout', undefined, both);
    expect(logout.status).toBe(400);
    expect(logout.json.loggedOut).toBeUndefined();
    const everywhere = await new Client(lab.url).request('POST', '/logout/everywhere', undefined, both);
    expect(everywhere.status).toBe(400);
    const paths = everywhere.headers.getSetCookie().map((line) => parseSetCookie(line).attributes.path);
    expect(paths).toEqual(['/logout', '/logout/', '/logout/everywhere']);
    // Both still live: the victim's logout was not spent on the attacker's session.
    expect((await attacker.profile()).status).toBe(200);
    expect((await victim.profile()).status).toBe(200);
    expect((await victim.logout()).json.loggedOut).toBe(true);
  });

  it('login with two cookies is a fresh login: a new session, never either of the old ones', async () => {
    const { A, V } = await attackerAndVictim(lab);
    const login = await new Client(lab.url).request('POST', '/login', { username: 'bob', password: 'builder' }, { cookie: `sid=${A}; sid=${V}` });
    expect(login.status).toBe(200);
    const issued = login.headers.getSetCookie().map(parseSetCookie).find((c) => c.name === 'sid' && c.attributes.path === '/');
    expect(issued?.value).toBeTruthy();
    expect([A, V]).not.toContain(issued!.value);
  });

  it('over HTTPS two __Host-sid cookies are refused the same way, and a plain sid beside one is ignored', async () => {
    const login = await httpsRequest(`${lab.httpsUrl}/login`, { method: 'POST', body: { username: 'bob', password: 'builder' } });
    const value = parseSetCookie(login.setCookies.find((c) => c.startsWith('__Host-sid='))!).value;
    const both = await httpsRequest(`${lab.httpsUrl}/profile`, { headers: { cookie: `__Host-sid=x; __Host-sid=${value}` } });
    expect(both.status).toBe(400);
    const beside = await httpsRequest(`${lab.httpsUrl}/profile`, { headers: { cookie: `sid=junk; __Host-sid=${value}` } });
    expect(beside.status).toBe(200);
  });
});

describe('two affinity cookies are ambiguous too (sticky mode, 2 instances)', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await startTestLab({ mode: 'sticky', instances: 2, balancerEnv: { HTTPS_PORT: '0' } });
  });
  afterAll(() => lab?.close());

  it('a tossed coatcheck_lb naming another instance is not honoured, not re-issued, and deleted at its path', async () => {
    const victim = new Client(lab.url);
    const login = await victim.login('bob', 'builder');
    const home = login.servedBy!;
    const other = lab.instances.map((i) => i.id).find((id) => id !== home)!;
    expect(victim.jar.get('coatcheck_lb')).toBe(home);
    const cookie = `coatcheck_lb=${other}; sid=${victim.jar.get('sid')}; coatcheck_lb=${home}`;
    const answers = await Promise.all([1, 2, 3, 4].map(() => new Client(lab.url).request('GET', '/profile', undefined, { cookie })));
    for (const answer of answers) {
      const lines = answer.headers.getSetCookie().map(parseSetCookie).filter((c) => c.name === 'coatcheck_lb');
      // No new pin at Path=/ (it would overwrite the real one); the copy at /profile is deleted.
      expect(lines).toEqual([expect.objectContaining({ value: '', attributes: expect.objectContaining({ path: '/profile' }) })]);
    }
    // With the tossed copy gone, the real pin routes home again: no lasting 401.
    expect((await victim.profile()).status).toBe(200);
  });

  it('over HTTPS the pin is __Host-coatcheck_lb with Secure, and a plain coatcheck_lb is not honoured', async () => {
    const login = await httpsRequest(`${lab.httpsUrl}/login`, { method: 'POST', body: { username: 'bob', password: 'builder' } });
    const pin = parseSetCookie(login.setCookies.find((c) => c.includes('coatcheck_lb='))!);
    expect(pin.name).toBe('__Host-coatcheck_lb');
    expect(pin.attributes).toMatchObject({ secure: true, path: '/' });
    expect(pin.attributes.domain).toBeUndefined();
    const sid = login.setCookies.find((c) => c.startsWith('__Host-sid='))!.split(';')[0]!;
    const home = String(login.headers['x-served-by']);
    const other = lab.instances.map((i) => i.id).find((id) => id !== home)!;
    // A forged plain pin is ignored over HTTPS: the real one still decides, every time.
    for (let i = 0; i < 4; i++) {
      const profile = await httpsRequest(`${lab.httpsUrl}/profile`, { headers: { cookie: `coatcheck_lb=${other}; ${sid}; __Host-coatcheck_lb=${home}` } });
      expect(profile.status).toBe(200);
      expect(profile.headers['x-served-by']).toBe(home);
    }
  });
});

describe('cookie tossing in a real browser: a page on another port of 127.0.0.1 (Chromium)', () => {
  let lab: Lab;
  let browser: Browser;
  let evil: http.Server;
  let tossed = '';
  let script = '';
  let evilUrl = '';

  beforeAll(async () => {
    // The attacker's page: sets whatever `tossed` says, at path=/cart, from another port (same site).
    evil = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(`<!doctype html><title>evil</title><script>document.cookie = ${JSON.stringify(tossed)}; document.title = 'tossed';${script}</script>`);
    });
    await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve));
    evilUrl = `http://127.0.0.1:${(evil.address() as AddressInfo).port}/`;
    [lab, browser] = await Promise.all([
      startTestLab({ mode: 'redis', instances: 2 }),
      chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS }),
    ]);
  });
  afterAll(async () => {
    await browser?.close();
    await lab?.close();
    await new Promise((resolve) => evil?.close(resolve));
  });

  it('the victim never acts as the attacker: the cart write is refused, the tossed cookie deleted, and the next one is the victim’s', async () => {
    const attacker = new Client(lab.url);
    expect((await attacker.login('alice', 'wonderland')).status).toBe(200);
    tossed = `sid=${attacker.jar.get('sid')}; path=/cart`;

    const page = await browser.newPage();
    const call = (method: string, path: string, body?: unknown) =>
      page.evaluate(
        async ({ method, path, body }) => {
          const response = await fetch(path, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
          return { status: response.status, json: (await response.json()) as Record<string, unknown> };
        },
        { method, path, body },
      );
    await page.goto(`${lab.url}/__lab/user`);
    expect((await call('POST', '/login', { username: 'bob', password: 'builder' })).status).toBe(200);

    await page.goto(evilUrl);
    await page.waitForFunction(() => document.title === 'tossed');
    await page.goto(`${lab.url}/__lab/user`);
    const cookies = await page.context().cookies(lab.url + '/cart');
    expect(cookies.filter((c) => c.name === 'sid')).toHaveLength(2);

    const first = await call('POST', '/cart', { item: 'victim-secret' });
    expect(first.status).toBe(400);
    expect(first.json.error).toBe('ambiguous_session_cookie');
    // The answer deleted the tossed copy: the browser holds the victim's cookie only.
    expect((await page.context().cookies(lab.url + '/cart')).filter((c) => c.name === 'sid')).toHaveLength(1);
    const second = await call('POST', '/cart', { item: 'victim-secret' });
    expect(second.status).toBe(200);
    const profile = await call('GET', '/profile');
    expect(profile.json).toMatchObject({ username: 'bob', cart: ['victim-secret'] });
    // The attacker reads nothing of it.
    expect((await attacker.profile()).json).toMatchObject({ username: 'alice', cart: [] });
    await page.close();
  });
  it('the same page cannot log the victim out: no-cors POSTs to /logout and /logout/everywhere get 403', async () => {
    tossed = 'unrelated=1';
    const page = await browser.newPage();
    await page.goto(`${lab.url}/__lab/user`);
    const login = await page.evaluate(async () => {
      const response = await fetch('/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'ravi', password: 'gold-member' }) });
      return response.status;
    });
    expect(login).toBe(200);
    // No body, no content type: a "simple" request, sent without a preflight, with the cookie (same site).
    script = `Promise.all(['/logout/everywhere', '/logout'].map((p) => fetch(${JSON.stringify(lab.url)} + p, { method: 'POST', mode: 'no-cors', credentials: 'include' }))).then(() => { document.title = 'sent'; });`;
    await page.goto(evilUrl);
    await page.waitForFunction(() => document.title === 'sent');
    script = '';
    await page.goto(`${lab.url}/__lab/user`);
    const profile = await page.evaluate(async () => (await fetch('/profile')).json() as Promise<Record<string, unknown>>);
    expect(profile.username).toBe('ravi');
    await page.close();
  });
});
