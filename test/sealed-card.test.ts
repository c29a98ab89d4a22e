import { randomBytes } from 'node:crypto';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../scripts/lib/free-port.js';
import { AccountBook, hashPassword } from '../services/accounts.js';
import { buildApp } from '../services/app.js';
import { loadConfig } from '../services/config.js';
import { deriveSealKey, sealKeys } from '../services/sealed/keys.js';
import { ConfigError } from '../services/vocabulary.js';

// The sealed card's rules, in-process with inject(): what a cookie that cannot be trusted gets,
// key rotation, and the size limit. The round robin over real processes is in stateless.test.ts.

const key = () => randomBytes(32).toString('base64');
let accounts: AccountBook;
const apps: FastifyInstance[] = [];

beforeAll(async () => {
  accounts = new AccountBook([{ username: 'bob', displayName: 'Bob', passwordHash: await hashPassword('builder', 1024) }]);
});
afterAll(() => Promise.all(apps.map((app) => app.close())));

async function instance(env: Record<string, string>): Promise<FastifyInstance> {
  const config = loadConfig({ INSTANCE_ID: 'app-test', SESSION_SECRET: randomBytes(32).toString('hex'), STORE: 'sealed', LOG_LEVEL: 'silent', ...env });
  const app = await buildApp(config, { accounts });
  apps.push(app);
  return app;
}

/** The `sid` value a response sets, as the browser would send it back. */
function card(response: LightMyRequestResponse): string {
  const set = response.cookies.find((c) => c.name === 'sid');
  if (!set?.value) throw new Error(`no card in ${JSON.stringify(response.headers['set-cookie'])}`);
  return set.value;
}

async function login(app: FastifyInstance): Promise<string> {
  const response = await app.inject({ method: 'POST', url: '/login', payload: { username: 'bob', password: 'builder' } });
  expect(response.statusCode).toBe(200);
  return card(response);
}

const profile = (app: FastifyInstance, value: string) => app.inject({ method: 'GET', url: '/profile', cookies: { sid: value } });

describe('a card that cannot be trusted is a 401 with its reason, never a 500', () => {
  let app: FastifyInstance;
  let good: string;
  beforeAll(async () => {
    app = await instance({ SEAL_KEYS: key() });
    good = await login(app);
  });

  it('opens a good card', async () => {
    const response = await profile(app, good);
    expect(response.statusCode).toBe(200);
    expect(response.json().username).toBe('bob');
  });

  it.each([
    ['tampered (one byte of the ciphertext flipped)', (c: string) => (c[5] === 'A' ? c.slice(0, 5) + 'B' + c.slice(6) : c.slice(0, 5) + 'A' + c.slice(6))],
    ['truncated', (c: string) => c.slice(0, c.length - 10)],
    ['without its nonce', (c: string) => c.split(';')[0]!],
    ['garbage', () => 'not-a-card;at-all'],
    ['empty ciphertext', (c: string) => ';' + c.split(';')[1]],
  ])('%s: bad_signature', async (_name, damage) => {
    const damaged = damage(good);
    expect(damaged).not.toBe(good);
    const response = await profile(app, damaged);
    expect(response.statusCode).toBe(401);
    expect(response.json()).toMatchObject({ error: 'not_logged_in', reason: 'bad_signature' });
  });

  it('a wristband from a mode with a logbook is "unknown_session"', async () => {
    const response = await profile(app, 's:abc.def');
    expect(response.statusCode).toBe(401);
    expect(response.json().reason).toBe('unknown_session');
  });

  it('a card idle for longer than SESSION_TTL_SECONDS is "expired"', async () => {
    const idle = Math.round(Date.now() / 1000) - 1801;
    const old = app.encodeSecureSession(app.createSecureSession({ id: 'x', user: { username: 'bob', displayName: 'Bob' }, loginAt: Date.now(), __ts: idle }), 'card');
    const response = await profile(app, old);
    expect(response.statusCode).toBe(401);
    expect(response.json().reason).toBe('expired');
  });

  it('a card older than SESSION_ABSOLUTE_SECONDS since login is "expired", even in use', async () => {
    const loginAt = Date.now() - 8 * 3600 * 1000 - 1000;
    const old = app.encodeSecureSession(app.createSecureSession({ id: 'y', user: { username: 'bob', displayName: 'Bob' }, loginAt }), 'card');
    const response = await profile(app, old);
    expect(response.statusCode).toBe(401);
    expect(response.json().reason).toBe('expired');
  });
});

describe('the card over HTTPS', () => {
  it('is __Host-sid with Secure, read only under that name, and cleared under it at logout', async () => {
    const app = await instance({ SEAL_KEYS: key() });
    const https = { 'x-forwarded-proto': 'https' };
    const login = await app.inject({ method: 'POST', url: '/login', headers: https, payload: { username: 'bob', password: 'builder' } });
    const line = String(login.headers['set-cookie']);
    expect(line).toMatch(/^__Host-sid=[^;]+; Max-Age=1800; Path=\/; HttpOnly; SameSite=Lax; Secure$/);
    const value = login.cookies.find((c) => c.name === '__Host-sid')!.value;
    expect((await app.inject({ method: 'GET', url: '/profile', headers: https, cookies: { '__Host-sid': value } })).statusCode).toBe(200);
    // A plain `sid` over HTTPS could have been planted over plain HTTP: it does not count.
    const planted = await app.inject({ method: 'GET', url: '/profile', headers: https, cookies: { sid: value } });
    expect(planted.json().reason).toBe('no_cookie');
    const logout = await app.inject({ method: 'POST', url: '/logout', headers: https, cookies: { '__Host-sid': value } });
    expect(logout.cookies.some((c) => c.name === '__Host-sid' && c.value === '')).toBe(true);
  });
});

describe('key rotation', () => {
  const oldKey = key();
  const newKey = key();

  it('keeps old cards valid while both keys are configured, seals them again with the new one, refuses them once the old key is retired', async () => {
    const before = await instance({ SEAL_KEYS: oldKey });
    const during = await instance({ SEAL_KEYS: `${newKey},${oldKey}` });
    const after = await instance({ SEAL_KEYS: newKey });
    const old = await login(before);

    const opened = await profile(during, old);
    expect(opened.statusCode).toBe(200);
    const resealed = card(opened);
    expect(resealed).not.toBe(old);
    // Sealed again once: the next visit with the new card sets nothing.
    expect((await profile(during, resealed)).cookies).toHaveLength(0);

    expect((await profile(after, resealed)).statusCode).toBe(200);
    const retired = await profile(after, old);
    expect(retired.statusCode).toBe(401);
    expect(retired.json().reason).toBe('bad_signature');
    expect(retired.json().message).toContain('retired key');
  });
});

describe('a session that outgrows a cookie', () => {
  it('answers 413 with the size and keeps the card the browser holds, instead of a cookie the browser would drop', async () => {
    const app = await instance({ SEAL_KEYS: key(), SEALED_COOKIE_MAX_BYTES: '900' });
    let current = await login(app);
    let refused: LightMyRequestResponse | undefined;
    for (let i = 0; i < 20 && !refused; i++) {
      const response = await app.inject({ method: 'POST', url: '/cart', payload: { item: `item-${i}-`.padEnd(40, 'x') }, cookies: { sid: current } });
      if (response.statusCode === 413) refused = response;
      else {
        expect(response.statusCode).toBe(200);
        expect(Number(response.headers['x-session-cookie-bytes'])).toBeLessThanOrEqual(900);
        current = card(response);
      }
    }
    expect(refused?.json()).toMatchObject({ error: 'session_too_large' });
    expect(refused?.cookies).toHaveLength(0);
    // The card held before the refused item still works, without that item.
    const still = await profile(app, current);
    expect(still.statusCode).toBe(200);
    expect(still.json().cart.length).toBeGreaterThan(0);
  });
});

describe('a revocation list that does not answer', () => {
  it('answers 503 store_unavailable to a login and to a logged-in card, never 500 and never an open door', async () => {
    const port = await freePort();
    const app = await instance({ SEAL_KEYS: key(), REVOCATION: 'redis', REDIS_URL: `redis://127.0.0.1:${port}` });
    const login = await app.inject({ method: 'POST', url: '/login', payload: { username: 'bob', password: 'builder' } });
    expect(login.statusCode).toBe(503);
    expect(login.json().error).toBe('store_unavailable');
    expect(login.cookies).toHaveLength(0);
    const card = app.encodeSecureSession(app.createSecureSession({ id: 'z', user: { username: 'bob', displayName: 'Bob' }, loginAt: Date.now() }), 'card');
    const profile = await app.inject({ method: 'GET', url: '/profile', cookies: { sid: card } });
    expect(profile.statusCode).toBe(503);
    expect(profile.headers['retry-after']).toBe('1');
  });
});

describe('seal keys from the environment', () => {
  it('derives one key per SESSION_SECRET when SEAL_KEYS is unset, the same on every instance', () => {
    const keys = sealKeys({}, ['a'.repeat(32), 'b'.repeat(32)]);
    expect(keys.map((k) => k.length)).toEqual([32, 32]);
    expect(keys[0]!.equals(deriveSealKey('a'.repeat(32)))).toBe(true);
    expect(keys[0]!.equals(keys[1]!)).toBe(false);
  });

  it.each(['short', randomBytes(31).toString('base64'), `${key()}!`])('refuses SEAL_KEYS=%s at start-up', (bad) => {
    expect(() => sealKeys({ SEAL_KEYS: bad }, ['a'.repeat(32)])).toThrow(ConfigError);
  });

  it('refuses REVOCATION=redis without REDIS_URL', () => {
    expect(() => loadConfig({ SESSION_SECRET: 'a'.repeat(32), REVOCATION: 'redis' })).toThrow(/REVOCATION=redis needs REDIS_URL/);
  });
});
