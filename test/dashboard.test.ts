import { chromium, type Browser, type FrameLocator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Lab } from '../scripts/lab.js';
import { startNode, stopChild } from '../scripts/lib/processes.js';
import { startRedisServer, type RedisServer } from '../scripts/lib/redis-server.js';
import { startTestLab, waitFor } from './helpers/lab.js';

// The dashboard in a real headless browser (Debian's chromium), against a real lab:
// instances and balancer as child processes, and a redis-server of this file's own,
// because "make Redis unavailable" pauses every client of that Redis.
const ADMIN_TOKEN = 'dashboard-test-admin-token';
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** "running: 20 requests/s from 20 users; 85 requests, ..." -> 85 */
function streamRequests(status: string | null): number {
  return Number(/; (\d+) requests/.exec(status ?? '')?.[1] ?? 0);
}

describe('the live dashboard', () => {
  let redis: RedisServer;
  let lab: Lab;
  let browser: Browser;
  let page: Page;
  let user: FrameLocator;
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    redis = await startRedisServer();
    [lab, browser] = await Promise.all([
      startTestLab({ mode: 'memory', instances: 3, redisUrl: redis.url, adminToken: ADMIN_TOKEN }),
      chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS }),
    ]);
    page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    page.on('console', (message) => {
      // A 401 or 503 from the public port is the lesson (a logged-out click, a paused Redis), not a page error.
      const expected = message.text().startsWith('Failed to load resource') && message.location().url.startsWith(lab.url);
      if (message.type() === 'error' && !expected) consoleErrors.push(`${message.text()} (${message.location().url})`);
    });
    page.on('pageerror', (err) => consoleErrors.push(err.message));
    user = page.frameLocator('#user-frame');
  });
  afterAll(async () => {
    await browser?.close();
    await lab?.close();
    await redis?.stop();
  });

  const card = (id: string) => page.locator(`article[data-id="${id}"]`);
  const state = (id: string, text: string) => card(id).locator('.state', { hasText: new RegExp(`^(?:${text})$`) }).waitFor();
  const logged = (text: string) => page.locator('#log li', { hasText: text }).first().waitFor();

  /** Clicks "View profile" and returns the new check line the page added. */
  async function viewProfile(): Promise<string> {
    const before = await user.locator('#checks li').count();
    await user.getByRole('button', { name: 'View profile' }).click();
    await waitFor(async () => (await user.locator('#checks li').count()) > before, 'a new check line');
    return (await user.locator('#checks li').first().textContent()) ?? '';
  }

  async function logIn(account = 'testuser'): Promise<void> {
    await user.locator('#account').selectOption(account);
    const before = await user.locator('#checks li').count();
    await user.getByRole('button', { name: 'Log in' }).click();
    await waitFor(async () => (await user.locator('#checks li').count()) > before, 'the login line');
    expect(await user.locator('#checks li').first().textContent()).toMatch(/logged in as/);
  }

  it('loads with no console errors, streams live state and asks for the admin token', async () => {
    await page.goto(lab.adminUrl);
    await page.locator('#live', { hasText: /^live$/ }).waitFor();
    for (const id of ['app-1', 'app-2', 'app-3']) await state(id, 'UP');
    await page.locator('#mode-now', { hasText: 'memory' }).waitFor();
    await user.getByRole('button', { name: 'View profile' }).waitFor();

    // Server-sent events keep coming without a reload: the Redis panel fills in from a later snapshot.
    await page.locator('#redis-status', { hasText: 'UP' }).waitFor();

    // ADMIN_TOKEN is set: the page asks for it before any control is used.
    await page.locator('#token-form').waitFor();
    await page.locator('#token').fill(ADMIN_TOKEN);
    await page.getByRole('button', { name: 'Use token' }).click();
    await page.locator('#token-form').waitFor({ state: 'hidden' });

    // Virtual users through the public port: the numbers move without a reload. They keep
    // running into the next test, which watches them reach every instance.
    await page.locator('#stream-rate').selectOption('20');
    await page.getByRole('button', { name: 'Start', exact: true }).click();
    await page.locator('#stream-status', { hasText: /^running/ }).waitFor();
    const before = Number(await page.locator('#b-requests').textContent());
    await waitFor(async () => Number(await page.locator('#b-requests').textContent()) >= before + 20, 'the request count to move');
    expect(consoleErrors).toEqual([]);
  });

  it('shows the virtual users on every instance, and the plots fill in', async () => {
    await waitFor(async () => Number(await page.locator('#b-rps').textContent()) > 5, 'requests/s from the virtual users');
    for (const id of ['app-1', 'app-2', 'app-3']) {
      await waitFor(async () => Number(await card(id).locator('dd').first().textContent()) > 0, `requests/s on ${id}`);
    }
    // The stream reports its own count; the logged-out plot has points once memory mode logs users out.
    await waitFor(async () => streamRequests(await page.locator('#stream-status').textContent()) >= 60, '60 virtual-user requests', 20_000);
    // Stopped here: the clicks below must be the only requests on the public port, so the round
    // robin's order, not the stream's rhythm, decides which instance answers each of them.
    await page.getByRole('button', { name: 'Stop', exact: true }).click();
    await page.locator('#stream-status', { hasText: /^stopped after/ }).waitFor();
    expect(consoleErrors).toEqual([]);
  });

  it('shows the logout in memory mode through the public port, and redis fixes it', async () => {
    await page.getByRole('button', { name: 'memory', exact: true }).click();
    await page.locator('#mode-now', { hasText: 'memory' }).waitFor();

    await logIn('ravi');
    const memoryChecks: string[] = [];
    for (let i = 0; i < 4; i++) memoryChecks.push(await viewProfile());
    // Round robin over three logbooks: four clicks meet all three doors; only the desk that
    // wrote the wristband knows it, every other door says so.
    const served = memoryChecks.map((line) => /app-\d/.exec(line)?.[0]);
    expect(new Set(served).size).toBe(3);
    const outs = memoryChecks.filter((line) => /LOGGED OUT/.test(line));
    expect(outs.length).toBeGreaterThanOrEqual(2);
    expect(outs.every((line) => /not in the memory store of app-\d/.test(line))).toBe(true);

    await page.getByRole('button', { name: 'redis', exact: true }).click();
    await page.locator('#mode-now', { hasText: 'redis' }).waitFor();
    await logIn('ravi');
    const redisChecks: string[] = [];
    for (let i = 0; i < 6; i++) redisChecks.push(await viewProfile());
    expect(redisChecks.every((line) => line.includes('✓ logged in as Ravi'))).toBe(true);
    // Six clicks with round robin over three instances: every door checked the same shared logbook.
    expect(new Set(redisChecks.map((line) => /app-\d/.exec(line)?.[0])).size).toBe(3);
    // The Redis panel shows the wristbands it holds, with their owners.
    await page.locator('#redis-sample td', { hasText: /^(ravi|testuser|alice|bob)$/ }).first().waitFor();
    expect(consoleErrors).toEqual([]);
  });

  it('crashing an instance shows it down, then back', async () => {
    await page.getByRole('button', { name: 'Crash app-2' }).click();
    await state('app-2', 'DOWN|RESTARTING');
    await logged('app-2 was crashed from the dashboard');
    await state('app-2', 'UP');
    await logged('app-2 is UP again');
    expect(await card('app-2').getAttribute('class')).toContain('up');
  });

  it('stops and starts an instance, adds and removes one, through the launcher', async () => {
    await page.getByRole('button', { name: 'Stop app-3' }).click();
    await state('app-3', 'STOPPED');
    await logged('app-3 was stopped by the launcher');
    // Stopped on purpose: not restarted behind our back.
    expect(lab.instances.find((i) => i.id === 'app-3')!.child.exitCode !== null || lab.instances.find((i) => i.id === 'app-3')!.child.signalCode !== null).toBe(true);
    await page.getByRole('button', { name: 'Start app-3' }).click();
    await state('app-3', 'UP');

    await page.getByRole('button', { name: 'Add an instance' }).click();
    await state('app-4', 'UP');
    await page.getByRole('button', { name: 'Remove app-4' }).click();
    await card('app-4').waitFor({ state: 'detached' });
    await logged('app-4 left the pool');
    await logged('app-4 was taken out of the pool and stopped');
    expect(lab.instances.map((i) => i.id)).toEqual(['app-1', 'app-2', 'app-3']);
  });

  it('makes Redis unavailable for a few seconds, then flushes it', async () => {
    await logIn('alice');
    expect(await viewProfile()).toContain('✓ logged in as Alice');

    await page.getByRole('button', { name: 'Make Redis unavailable' }).click();
    await page.locator('#redis-status', { hasText: 'PAUSED' }).waitFor();
    // While Redis is paused the instances answer 503 quickly and keep the cookie.
    expect(await viewProfile()).toMatch(/⚠ 503/);
    await page.locator('#redis-status', { hasText: 'UP' }).waitFor({ timeout: 15_000 });
    expect(await viewProfile()).toContain('✓ logged in as Alice');

    await page.getByRole('button', { name: 'Flush the sessions' }).click();
    await logged('Redis flushed');
    expect(await viewProfile()).toMatch(/LOGGED OUT/);
    await page.locator('#redis-keys', { hasText: /^0 session keys/ }).waitFor();
    expect(consoleErrors).toEqual([]);
  });

  it('refuses bad or unauthenticated control requests with a clear 4xx', async () => {
    const post = (path: string, body: string, headers: Record<string, string> = {}) =>
      fetch(`${lab.adminUrl}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}`, ...headers },
        body,
      });
    const noToken = await fetch(`${lab.adminUrl}/api/instances/app-1/crash`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(noToken.status).toBe(401);
    const form = await post('/api/instances/app-1/crash', 'x=1', { 'content-type': 'text/plain' });
    expect(form.status).toBe(415);
    expect(((await form.json()) as { message: string }).message).toMatch(/content-type: application\/json/);
    expect((await post('/api/instances/nope/crash', '{}')).status).toBe(404);
    expect((await post('/api/redis/pause', '{"seconds":9999}')).status).toBe(400);
    expect((await post('/api/redis/pause', '{"seconds":')).status).toBe(400);
    const rate = await fetch(`${lab.adminUrl}/api/stream`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` },
      body: '{"rate":100000}',
    });
    expect(rate.status).toBe(400);
    // The public port serves the "be a user" page and nothing of the admin API.
    expect((await fetch(`${lab.url}/__lab/user`)).status).toBe(200);
    expect((await fetch(`${lab.url}/api/state`)).status).toBe(404);
    expect((await fetch(`${lab.url}/__lab/../api/state`)).status).toBe(404);
  });

  it('shows a 15 KB request path from the public port bounded, without widening the page', async () => {
    const long = `/${'w'.repeat(15_000)}`;
    expect((await fetch(lab.url + long)).status).toBe(404);
    const line = page.locator('.card .recent li', { hasText: '/wwww' }).first();
    await line.waitFor();
    expect(((await line.textContent()) ?? '').length).toBeLessThan(120);
    const { scrollWidth, innerWidth } = await page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth }));
    expect(scrollWidth).toBeLessThanOrEqual(innerWidth);
  });

  it('says the launcher-only controls are not available without a launcher (as under docker compose)', async () => {
    // A second balancer in front of the same instances, started directly: it has an IPC channel
    // but nobody answers on it, as in a container.
    const lone = await startNode(
      'proxy/main.ts',
      { PORT: '0', ADMIN_PORT: '0', INSTANCES: lab.instances.map((i) => `${i.id}=${i.url}`).join(','), LOG_LEVEL: 'warn' },
      { name: 'lone-balancer' },
    );
    try {
      const admin = `http://127.0.0.1:${lone.ready.adminPort}`;
      const post = (path: string, body = '{}') => fetch(`${admin}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      for (const path of ['/api/instances/app-1/stop', '/api/lab/add-instance']) {
        const response = await post(path);
        expect(response.status).toBe(501);
        expect(((await response.json()) as { message: string }).message).toMatch(/not available under docker compose/);
      }
      // No REDIS_URL given to this balancer: the Redis drills say why they cannot run.
      const pause = await post('/api/redis/pause', '{"seconds":1}');
      expect(pause.status).toBe(409);
      expect(((await pause.json()) as { message: string }).message).toMatch(/no REDIS_URL/);

      const other = await browser.newPage();
      await other.goto(admin);
      await other.locator('#launcher-note').waitFor();
      expect(await other.getByRole('button', { name: 'Add an instance' }).isDisabled()).toBe(true);
      expect(await other.getByRole('button', { name: 'Crash app-1' }).isDisabled()).toBe(false);
      await other.close();
    } finally {
      await stopChild(lone.child);
    }
  });
});
