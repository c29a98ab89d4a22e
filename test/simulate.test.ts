import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOwnLab, type LabDriver } from '../scripts/simulate/lab-driver.js';
import { VARIANTS, runVariant, type SimulationOptions, type SimulationReport, type VariantName } from '../scripts/simulate/scenarios.js';
import { VirtualUser } from '../scripts/simulate/virtual-user.js';

/**
 * The simulator against one real lab: instances and balancer as child processes and
 * a redis-server it owns (so scenarios can stop and restart it), over loopback.
 *
 * Tolerance: round-robin rates must be within ±0.07 absolute of theory at 3 instances
 * and 48 users x 16 follow-ups (768 requests; repeated runs of 576 spread with a
 * standard deviation near 0.027, so this is about 3 of them at 768). Pinned routing,
 * hash remapping and Redis results are deterministic given where the logins landed
 * and the users' addresses, so they must match theory exactly, with few requests.
 */
const TOLERANCE = 0.07;
const RATES: SimulationOptions = { users: 48, requests: 16, concurrency: 12, seed: 7, outageMs: 1500 };
const EXACT: SimulationOptions = { ...RATES, users: 24, requests: 4 };
const root = fileURLToPath(new URL('..', import.meta.url));

let lab: LabDriver;

beforeAll(async () => {
  lab = await startOwnLab({ instances: 3, routing: 'round-robin', store: 'memory', ownRedis: { appendOnly: false } });
});

afterAll(async () => {
  await lab?.close();
});

const run = (scenario: Parameters<typeof runVariant>[1], name: VariantName) =>
  runVariant(lab, scenario, VARIANTS[name], VARIANTS[name].routing === 'round-robin' && VARIANTS[name].store === 'memory' ? RATES : EXACT);
const phase = (report: SimulationReport, name: string) => report.phases.find((p) => p.name === name)!;

function expectNoHarm(report: SimulationReport) {
  expect(report.logins).toEqual({ ok: report.users, failed: 0 });
  expect(report.errors).toBe(0);
  expect(report.phases.every((p) => p.cookieCleared === 0)).toBe(true);
}

describe('steady state: every mode beside its theory', () => {
  it('memory mode (round robin) logs users out (N-1)/N of the time, though no session is lost', async () => {
    const report = await run('steady', 'memory');
    expectNoHarm(report);
    expect(report.requests).toBe(RATES.users * RATES.requests);
    expect(report.expectedRate).toBeCloseTo(2 / 3, 4);
    expect(Math.abs(report.loggedOutRate - report.expectedRate)).toBeLessThanOrEqual(TOLERANCE);
    expect(report.usersAffected).toBe(RATES.users);
    expect(report.sessionsLost).toBe(0);
    // Round robin spreads requests evenly over the three instances.
    for (const id of ['app-1', 'app-2', 'app-3']) {
      expect(Math.abs(report.perInstance[id]!.requests / report.requests - 1 / 3)).toBeLessThanOrEqual(TOLERANCE);
    }
  });

  it('sticky, ip-hash, consistent-hash and redis log nobody out', async () => {
    for (const name of ['sticky', 'ip-hash', 'consistent-hash', 'redis'] as const) {
      const report = await run('steady', name);
      expectNoHarm(report);
      expect({ name, loggedOut: report.loggedOut, expected: report.expectedRate, lost: report.sessionsLost }).toEqual({
        name,
        loggedOut: 0,
        expected: 0,
        lost: 0,
      });
    }
  });
});

describe('kill-instance: app-1 is killed halfway and restarted empty', () => {
  it('memory mode loses exactly the sessions app-1 held, and misses as theory says', async () => {
    const report = await run('kill-instance', 'memory');
    expectNoHarm(report);
    expect(report.expectedSessionsLost).toBeGreaterThan(0);
    expect(report.sessionsLost).toBe(report.expectedSessionsLost);
    expect(Math.abs(report.loggedOutRate - report.expectedRate)).toBeLessThanOrEqual(TOLERANCE);
  });

  it("sticky loses exactly app-1's users, every request after the kill and nobody else's", async () => {
    const report = await run('kill-instance', 'sticky');
    expectNoHarm(report);
    expect(phase(report, 'before').loggedOut).toBe(0);
    expect(report.sessionsLost).toBe(EXACT.users / 3); // cookie pins spread logins evenly
    expect(report.usersAffected).toBe(report.sessionsLost);
    expect(phase(report, 'after').loggedOutRate).toBeCloseTo(phase(report, 'after').expectedRate, 3);
    expect(phase(report, 'after').expectedRate).toBeCloseTo(1 / 3, 3);
  });

  it('redis loses nothing', async () => {
    const report = await run('kill-instance', 'redis');
    expectNoHarm(report);
    expect([report.loggedOut, report.sessionsLost]).toEqual([0, 0]);
  });
});

describe('scale-out: a fourth instance is added halfway', () => {
  it('memory mode (round robin) now misses N/(N+1), and the new instance gets its share', async () => {
    const report = await run('scale-out', 'memory');
    expectNoHarm(report);
    expect(report.instancesAfter).toBe(4);
    expect(phase(report, 'after').expectedRate).toBeCloseTo(3 / 4, 4);
    expect(Math.abs(report.loggedOutRate - report.expectedRate)).toBeLessThanOrEqual(TOLERANCE);
    expect(report.perInstance['app-4']!.requests).toBeGreaterThan(0);
  });

  it('cookie affinity moves no existing user', async () => {
    const report = await run('scale-out', 'sticky');
    expectNoHarm(report);
    expect(report.loggedOut).toBe(0);
    expect(report.perInstance['app-4']).toBeUndefined();
  });

  it('ip-hash moves the addresses modulo hashing remaps and logs exactly those users out; a ring moves far fewer', async () => {
    const modulo = await run('scale-out', 'ip-hash');
    const ring = await run('scale-out', 'consistent-hash');
    for (const report of [modulo, ring]) {
      expectNoHarm(report);
      const after = phase(report, 'after');
      expect(phase(report, 'before').loggedOut).toBe(0);
      expect(after.loggedOutRate).toBeCloseTo(after.expectedRate, 3);
      expect(report.usersAffected).toBe(report.expectedUsersAffected);
      // Moved, not lost: their sessions are still on their first instance.
      expect(report.sessionsLost).toBe(0);
    }
    expect(phase(modulo, 'after').loggedOutRate).toBeGreaterThan(0.5);
    expect(phase(ring, 'after').loggedOutRate).toBeLessThan(0.4);
    expect(phase(ring, 'after').loggedOutRate).toBeLessThan(phase(modulo, 'after').loggedOutRate);
  });

  it('redis loses nothing', async () => {
    const report = await run('scale-out', 'redis');
    expectNoHarm(report);
    expect([report.loggedOut, report.sessionsLost]).toEqual([0, 0]);
  });
});

describe('redis-restart', () => {
  it('without persistence every session is gone; with appendonly every one survives', async () => {
    const volatile = await run('redis-restart', 'redis-volatile');
    expectNoHarm(volatile);
    expect(phase(volatile, 'before').loggedOut).toBe(0);
    expect(phase(volatile, 'after').loggedOutRate).toBe(1);
    expect(volatile.sessionsLost).toBe(EXACT.users);

    const persistent = await run('redis-restart', 'redis-aof');
    expectNoHarm(persistent);
    expect([persistent.loggedOut, persistent.sessionsLost]).toEqual([0, 0]);
  });
});

describe('redis-down', () => {
  it('answers 503 while Redis is away (never a 500, never a cleared cookie), and the same sessions work after', async () => {
    const report = await run('redis-down', 'redis-aof');
    const outage = phase(report, 'outage');
    expect(outage.requests).toBeGreaterThan(0);
    expect(outage.statuses).toEqual({ 503: outage.requests });
    expect(outage.cookieCleared).toBe(0);
    expect(outage.loggedOut).toBe(0);
    const after = phase(report, 'after');
    expect(after.requests).toBe(EXACT.users * (EXACT.requests / 2));
    expect([after.loggedOut, after.errors, report.sessionsLost]).toEqual([0, 0, 0]);
  });
});

describe('npm run simulate', () => {
  function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      execFile(process.execPath, ['--import', 'tsx', 'scripts/simulate.ts', ...args], { cwd: root, timeout: 60_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
  }

  it('--json over a running lab prints one document with the figures, and leaves the lab as it found it', async () => {
    await lab.configure('cookie', 'memory');
    const { code, stdout, stderr } = await cli(['--url', lab.url, '--admin-url', lab.adminUrl, '--mode', 'memory', '--users', '12', '--requests', '6', '--json']);
    expect(stderr).not.toMatch(/error/i);
    expect(code).toBe(0);
    const document = JSON.parse(stdout) as { results: Record<string, unknown>[] };
    expect(document.results).toHaveLength(1);
    const result = document.results[0]!;
    for (const key of ['mode', 'routing', 'store', 'instances', 'users', 'requests', 'loggedOut', 'loggedOutRate', 'expectedRate', 'usersAffected', 'perInstance']) {
      expect(result).toHaveProperty(key);
    }
    expect(result).toMatchObject({ mode: 'memory', routing: 'round-robin', store: 'memory', instances: 3, users: 12, requests: 72 });
    expect(result.loggedOut as number).toBeGreaterThan(0);
    expect(Object.keys(result.perInstance as object).sort()).toEqual(['app-1', 'app-2', 'app-3']);
    const state = await lab.state();
    expect([state.routing, state.store]).toEqual(['cookie', 'memory']);
  });

  it('refuses bad options with a clear message and exit code 2', async () => {
    const zero = await cli(['--users', '0']);
    expect(zero.code).toBe(2);
    expect(zero.stderr).toContain('--users must be a whole number from 1 to 10000');
    const scenario = await cli(['--scenario', 'meteor']);
    expect(scenario.code).toBe(2);
    expect(scenario.stderr).toContain('--scenario must be one of kill-instance, scale-out, redis-restart, redis-down');
  });
});

describe('a virtual user', () => {
  it('keeps the balancer affinity cookie and sends it back', async () => {
    await lab.configure('cookie', 'memory');
    const user = new VirtualUser({ baseUrl: lab.url, username: 'alice', password: 'wonderland', localAddress: '127.10.200.1' });
    try {
      const login = await user.login();
      expect(login.status).toBe(200);
      expect(user.cookies.get('coatcheck_lb')).toBe(login.servedBy);
      for (let i = 0; i < 5; i++) expect(await user.step()).toMatchObject({ status: 200, servedBy: login.servedBy, loggedOut: false });
    } finally {
      user.close();
    }
  });
});
