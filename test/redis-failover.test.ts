import { once } from 'node:events';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLab, type Lab } from '../scripts/lab.js';
import { SIMULATOR_INSTANCE_ENV } from '../scripts/simulate/lab-driver.js';
import { writeFastAccounts } from '../scripts/simulate/accounts.js';
import { Client } from './helpers/http.js';
import { waitFor } from './helpers/lab.js';

/**
 * A real Sentinel set (primary, two replicas, three Sentinels) behind a real lab, with the
 * write guard on (WAIT for one replica after each session write). The primary is killed with
 * SIGKILL while virtual clients log in and look up their sessions.
 */
describe('Redis behind Sentinel', () => {
  let lab: Lab;
  let accounts: Awaited<ReturnType<typeof writeFastAccounts>>;

  beforeAll(async () => {
    accounts = await writeFastAccounts();
    lab = await startLab({
      mode: 'redis',
      redisTopology: 'sentinel',
      instances: 2,
      port: 0,
      adminPort: 0,
      restartCrashed: false,
      // Generous for a loaded machine: the guard refuses only when no replica confirms in 1 s.
      // The failure counters too: a login answered 503 mid-failover keeps its counted attempt (the
      // undo could not reach Redis either), and four loops of one account would reach 429.
      instanceEnv: {
        ...SIMULATOR_INSTANCE_ENV,
        LOGIN_MAX_FAILURES: '1000000',
        LOGIN_MAX_FAILURES_PER_IP: '1000000',
        ACCOUNTS_FILE: accounts.file,
        REDIS_WAIT_REPLICAS: '1',
        REDIS_WAIT_MS: '1000',
      },
      balancerEnv: { LOG_LEVEL: 'warn', HEALTH_INTERVAL_MS: '200' },
    });
  });

  afterAll(async () => {
    await lab?.close();
    accounts?.remove();
  });

  const everyInstanceServes = () =>
    waitFor(
      async () => {
        const health = await Promise.all(lab.instances.map((i) => fetch(`${i.url}/health`).then((r) => r.json() as Promise<{ storeOk: boolean }>, () => null)));
        return health.every((h) => h?.storeOk === true);
      },
      'every instance to reach the new primary',
      30_000,
    );

  it('fails over under traffic: 503s meanwhile, never a 500, then every instance serves on the new primary', async () => {
    const statuses: number[] = [];
    let running = true;
    // A request with no answer at all counts as status 0: it must not happen either.
    const traffic = Array.from({ length: 4 }, async () => {
      while (running) {
        const client = new Client(lab.url);
        const login = await client.login().catch(() => ({ status: 0 }));
        statuses.push(login.status);
        if (login.status === 200) statuses.push((await client.profile().catch(() => ({ status: 0 }))).status);
      }
    });
    let rejoined: Promise<unknown> | undefined;
    // Stopped however the test ends: no request may outlive the lab.
    try {
      await waitFor(() => statuses.filter((s) => s === 200).length >= 20, 'logins before the kill', 20_000);

      await waitFor(async () => Boolean((await lab.admin.state()).redisTopology?.primary), 'the control plane to name the primary', 20_000);
      const dead = (await lab.admin.state()).redisTopology?.primary;
      expect(dead).toBe(`127.0.0.1:${await lab.sentinel!.primaryPort()}`);
      rejoined = once(lab, 'redis-rejoined');
      // Through the control plane, as the dashboard's button does: the launcher kills the process.
      const kill = await fetch(`${lab.adminUrl}/api/redis/kill-primary`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      expect(kill.status).toBe(200);

      await waitFor(async () => {
        const topology = (await lab.admin.state()).redisTopology;
        return Boolean(topology?.primary && topology.primary !== dead);
      }, 'the control plane to see a new primary', 30_000);
      await everyInstanceServes();
      const afterRecovery = statuses.length;
      await waitFor(() => statuses.slice(afterRecovery).filter((s) => s === 200).length >= 20, 'logins after the failover', 20_000);
    } finally {
      running = false;
      await Promise.all(traffic);
    }

    expect(statuses.filter((s) => s !== 200 && s !== 503)).toEqual([]);
    // Every instance, asked directly, writes and reads a session on the new primary.
    for (const instance of lab.instances) {
      const client = new Client(instance.url);
      expect((await client.login()).status).toBe(200);
      expect((await client.profile()).status).toBe(200);
    }
    // The dead node comes back as a replica of the new primary: two replicas again.
    await rejoined;
    await waitFor(async () => (await lab.admin.state()).redisTopology?.replicas.filter((r) => r.state === 'online').length === 2, 'two replicas online', 30_000);
  });

  it('refuses a login no replica confirmed, and keeps one it acknowledged across the kill', async () => {
    const held = await lab.sentinel!.holdReplicas();
    const refused = new Client(lab.url);
    let answer;
    try {
      answer = await refused.login();
    } finally {
      held.release();
    }
    // Never 200 for a session only the primary has: the user is told to try again.
    expect(answer.status).toBe(503);
    expect(answer.headers.get('retry-after')).not.toBeNull();

    // Both replicas back on the primary's link: whichever Sentinel promotes then had every confirmed write.
    const releasedAt = Date.now();
    const replicasOnline = async () => {
      const topology = (await lab.admin.state()).redisTopology;
      return Boolean(topology && topology.at > releasedAt && topology.replicas.filter((r) => r.state === 'online').length === 2);
    };
    await waitFor(replicasOnline, 'both replicas to reconnect', 30_000);
    const kept = new Client(lab.url);
    await waitFor(async () => (await kept.login()).status === 200, 'a login the guard acknowledges', 30_000);
    const dead = await lab.sentinel!.killPrimary();
    await lab.sentinel!.waitForFailover(dead);
    await everyInstanceServes();
    const profile = await kept.profile();
    expect(profile.status).toBe(200);
    expect(profile.json.username).toBe('testuser');
  });

  it('the dashboard block names the primary, and its button kills it; the block then names the new one', async () => {
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu', '--no-first-run'] });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (err) => errors.push(err.message));
      await page.goto(lab.adminUrl);
      const primary = await lab.sentinel!.primaryPort();
      await page.locator('#topology-nodes li', { hasText: `primary 127.0.0.1:${primary}` }).waitFor({ timeout: 20_000 });
      await page.locator('#topology-kill').click();
      // The block says which node it killed (on a failure, the poll shows what it said instead).
      const note = page.locator('#topology-note');
      await expect.poll(() => note.textContent(), { timeout: 20_000 }).toMatch(/^Redis primary :\d+ killed$/);
      const killed = Number(/:(\d+)/.exec((await note.textContent()) ?? '')![1]);
      const next = await lab.sentinel!.waitForFailover(killed);
      await page.locator('#topology-nodes li', { hasText: `primary 127.0.0.1:${next}` }).waitFor({ timeout: 30_000 });
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
