import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AccountBook, hashPassword } from '../services/accounts.js';
import { buildApp } from '../services/app.js';
import { loadConfig } from '../services/config.js';
import { ConfigError } from '../services/vocabulary.js';
import { waitFor } from './helpers/lab.js';

const CONTROL_TOKEN = 'race-input-control-token';
let accounts: AccountBook;
const opened: FastifyInstance[] = [];

beforeAll(async () => {
  accounts = new AccountBook([{ username: 'bob', displayName: 'Bob', passwordHash: await hashPassword('builder', 1024) }]);
});
afterEach(async () => {
  await Promise.all(opened.splice(0).map((app) => app.close()));
});

async function instance(env: Record<string, string> = {}): Promise<FastifyInstance> {
  const app = await buildApp(loadConfig({ SESSION_SECRET: randomBytes(32).toString('hex'), CONTROL_TOKEN, ...env }), { accounts });
  opened.push(app);
  return app;
}

async function loggedIn(app: FastifyInstance): Promise<string> {
  const response = await app.inject({ method: 'POST', url: '/login', payload: { username: 'bob', password: 'builder' } });
  expect(response.statusCode).toBe(200);
  return String([response.headers['set-cookie']].flat()[0]).split(';')[0]!;
}

const cart = (app: FastifyInstance, cookie: string, query = '') => app.inject({ method: 'POST', url: `/cart${query}`, headers: { cookie }, payload: { item: 'hat' } });
const json = (response: LightMyRequestResponse) => response.json() as Record<string, unknown>;

describe('the lab slow request', () => {
  it('is refused, with what to set, on an instance started without LAB_SLOW_MAX_MS', async () => {
    const app = await instance();
    const response = await cart(app, await loggedIn(app), '?delay=10');
    expect(response.statusCode).toBe(400);
    expect(json(response)).toMatchObject({ error: 'delay_not_allowed', message: expect.stringContaining('LAB_SLOW_MAX_MS') });
  });

  it('is bounded by LAB_SLOW_MAX_MS, takes digits only, and runs within the bound', async () => {
    const app = await instance({ LAB_SLOW_MAX_MS: '100' });
    const cookie = await loggedIn(app);
    const tooLong = await cart(app, cookie, '?delay=500');
    expect(tooLong.statusCode).toBe(400);
    expect(json(tooLong).message).toContain('at most 100 ms');
    for (const bad of ['?delay=abc', '?delay=-5', '?delay=1e3', '?delay=999999', '?speed=1']) {
      const response = await cart(app, cookie, bad);
      expect(response.statusCode, bad).toBe(400);
      expect(json(response).error, bad).toBe('invalid_body');
    }
    const ok = await cart(app, cookie, '?delay=20');
    expect(ok.statusCode).toBe(200);
    expect(json(ok).cart).toEqual(['hat']);
  });

  it('answers 401, writing nothing, when the session was logged out while it held it', async () => {
    const app = await instance({ LAB_SLOW_MAX_MS: '5000' });
    const cookie = await loggedIn(app);
    let held = false;
    const slow = cart(app, cookie, '?delay=1500').then((r) => ((held = true), r));
    // The logout goes once the cart request holds the session, as the instance counts it.
    const holding = async () => json(await app.inject({ method: 'GET', url: '/_control/health', headers: { authorization: `Bearer ${CONTROL_TOKEN}` } })).holding;
    await waitFor(async () => (await holding()) === 1, 'the cart request to hold the session');
    expect((await app.inject({ method: 'POST', url: '/logout', headers: { cookie } })).statusCode).toBe(200);
    expect(held).toBe(false);
    const response = await slow;
    expect(response.statusCode).toBe(401);
    expect(json(response)).toMatchObject({ error: 'not_logged_in', message: expect.stringContaining('logged out while the request was running') });
    expect((await app.inject({ method: 'GET', url: '/profile', headers: { cookie } })).statusCode).toBe(401);
  });
});

describe('the race guard switch', () => {
  it('RACE_GUARD takes a boolean, and says so', () => {
    expect(() => loadConfig({ SESSION_SECRET: 'x'.repeat(32), RACE_GUARD: 'maybe' })).toThrow(ConfigError);
    expect(() => loadConfig({ SESSION_SECRET: 'x'.repeat(32), RACE_GUARD: 'maybe' })).toThrow(/RACE_GUARD=maybe is not a boolean/);
    expect(loadConfig({ SESSION_SECRET: 'x'.repeat(32) }).raceGuard).toBe(true);
  });

  it('/_control/race-guard needs the token and a boolean, and is reported by /_control/health', async () => {
    const app = await instance();
    const put = (payload: unknown, authorization = `Bearer ${CONTROL_TOKEN}`) =>
      app.inject({ method: 'PUT', url: '/_control/race-guard', headers: { authorization }, payload: payload as object });
    expect((await put({ on: false }, 'Bearer wrong-token-of-some-length')).statusCode).toBe(403);
    expect((await put({ on: 'no' })).statusCode).toBe(400);
    expect((await put({})).statusCode).toBe(400);
    expect(json(await put({ on: false }))).toEqual({ raceGuard: false });
    const health = await app.inject({ method: 'GET', url: '/_control/health', headers: { authorization: `Bearer ${CONTROL_TOKEN}` } });
    expect(json(health)).toMatchObject({ raceGuard: false, holding: 0 });
  });
});

describe('simulate --scenario race, bad flags', () => {
  const simulate = (args: string[]) =>
    new Promise<{ code: number; stderr: string }>((resolve) => {
      execFile(process.execPath, ['--import', 'tsx', 'scripts/simulate.ts', '--scenario', 'race', ...args], { cwd: fileURLToPath(new URL('..', import.meta.url)), timeout: 60_000 }, (err, _stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }),
      );
    });

  it('refuses them with exit code 2 and what to change, before starting any lab', async () => {
    const [guard, mode, delay] = await Promise.all([simulate(['--race-guard', 'maybe']), simulate(['--mode', 'redis']), simulate(['--delay-ms', '9000'])]);
    expect(guard).toMatchObject({ code: 2, stderr: expect.stringContaining('--race-guard must be on, off or both') });
    expect(mode).toMatchObject({ code: 2, stderr: expect.stringContaining('drop --mode') });
    expect(delay.code).toBe(2);
    expect(delay.stderr).toContain('--delay-ms');
  }, 60_000);
});
