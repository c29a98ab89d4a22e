import { randomBytes } from 'node:crypto';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { freePort } from '../scripts/lib/free-port.js';
import { AccountBook, hashPassword } from '../services/accounts.js';
import { buildApp } from '../services/app.js';
import { loadConfig } from '../services/config.js';
import { PROXY_TOKEN_HEADER } from '../services/vocabulary.js';
import { seededSession } from '../services/routes/seed.js';
import { getSession } from '../services/stores/types.js';

// The instance's own rules, in-process with inject(): no sockets, no child processes.

const CONTROL_TOKEN = randomBytes(16).toString('hex');
const LIMIT = 5;
const SESSION_ROUTES = [
  { method: 'GET', url: '/profile' },
  { method: 'POST', url: '/cart', payload: { item: 'tea' } },
  { method: 'POST', url: '/logout/everywhere' },
] as const;

let accounts: AccountBook;
beforeAll(async () => {
  // A cheap scrypt cost: these tests are about the rules, not about the hash.
  const hash = (password: string) => hashPassword(password, 1024);
  accounts = new AccountBook([
    { username: 'bob', displayName: 'Bob', passwordHash: await hash('builder') },
    { username: 'alice', displayName: 'Alice', passwordHash: await hash('wonderland') },
  ]);
});

function instance(env: Record<string, string> = {}): Promise<FastifyInstance> {
  const config = loadConfig({
    INSTANCE_ID: 'app-test',
    SESSION_SECRET: randomBytes(32).toString('hex'),
    CONTROL_TOKEN,
    LOGIN_MAX_FAILURES: String(LIMIT),
    LOGIN_MAX_FAILURES_PER_IP: '100',
    ...env,
  });
  return buildApp(config, { accounts });
}

/** The session cookie a response set, as a Cookie header, or undefined. */
function sessionCookie(response: LightMyRequestResponse): string | undefined {
  const line = [response.headers['set-cookie'] ?? []].flat().find((l) => String(l).startsWith('sid='));
  return line === undefined ? undefined : String(line).split(';')[0];
}

function login(app: FastifyInstance, username: string, password: string, remoteAddress = '127.0.0.1', headers: Record<string, string> = {}) {
  return app.inject({ method: 'POST', url: '/login', payload: { username, password }, remoteAddress, headers });
}

const statuses = (responses: LightMyRequestResponse[]) => responses.map((r) => r.statusCode);
const count = (list: number[], status: number) => list.filter((s) => s === status).length;

describe('an instance in memory mode', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await instance();
  });
  afterAll(() => app?.close());

  /** A stored session whose login is `ageMs` old, planted through /_control/seed. */
  async function seeded(ageMs: number): Promise<string> {
    const id = randomBytes(16).toString('hex');
    const session = {
      cookie: { originalMaxAge: 1_800_000, expires: new Date(Date.now() + 1_800_000).toISOString(), httpOnly: true, path: '/', secure: false, sameSite: 'lax' },
      user: { username: 'bob', displayName: 'Bob' },
      loginAt: Date.now() - ageMs,
      createdBy: 'app-test',
      cart: [],
    };
    const response = await app.inject({ method: 'POST', url: '/_control/seed', headers: { authorization: `Bearer ${CONTROL_TOKEN}` }, payload: { ids: [id], session } });
    expect(response.statusCode).toBe(200);
    return `sid=${encodeURIComponent(app.signCookie(id))}`;
  }

  it('logs in with a rotated, signed cookie; profile and cart work with it; logout clears it', async () => {
    const first = await login(app, 'bob', 'builder');
    expect(first.statusCode).toBe(200);
    const cookie = sessionCookie(first)!;
    expect(cookie).toMatch(/^sid=.+\..+/);
    const again = await app.inject({ method: 'POST', url: '/login', payload: { username: 'bob', password: 'builder' }, headers: { cookie } });
    expect(sessionCookie(again)).not.toBe(cookie);

    expect((await app.inject({ method: 'GET', url: '/profile', headers: { cookie } })).statusCode).toBe(401);
    const fresh = sessionCookie(again)!;
    const cart = await app.inject({ method: 'POST', url: '/cart', payload: { item: 'tea' }, headers: { cookie: fresh } });
    expect(cart.json()).toMatchObject({ cart: ['tea'], servedBy: 'app-test' });
    const profile = await app.inject({ method: 'GET', url: '/profile', headers: { cookie: fresh } });
    expect(profile.json()).toMatchObject({ username: 'bob', cart: ['tea'] });

    const logout = await app.inject({ method: 'POST', url: '/logout', headers: { cookie: fresh } });
    expect(logout.json()).toMatchObject({ loggedOut: true });
    expect(String(logout.headers['set-cookie'])).toMatch(/^sid=;/);
    expect((await app.inject({ method: 'GET', url: '/profile', headers: { cookie: fresh } })).json().reason).toBe('unknown_session');
    // Not logged in: still 200, nothing to destroy.
    expect((await app.inject({ method: 'POST', url: '/logout' })).json()).toMatchObject({ loggedOut: false });
  });

  it('keeps the cookie on a miss: an unknown session is a 401, not a cleared cookie', async () => {
    const cookie = `sid=${encodeURIComponent(app.signCookie('not-in-this-logbook'))}`;
    const response = await app.inject({ method: 'GET', url: '/profile', headers: { cookie } });
    expect(response.statusCode).toBe(401);
    expect(response.json().reason).toBe('unknown_session');
    expect(response.headers['set-cookie']).toBeUndefined();
  });

  for (const route of SESSION_ROUTES) {
    it(`${route.method} ${route.url}: the same 401 reasons as every session route`, async () => {
      const call = (cookie?: string) => app.inject({ ...route, ...(cookie && { headers: { cookie } }) });
      const reasons = [
        await call(),
        await call(`sid=${app.signCookie('x').replace(/\.[^.]+$/, '.forged')}`),
        await call(`sid=${encodeURIComponent(app.signCookie('nobody-has-this'))}`),
        // Older than SESSION_ABSOLUTE_SECONDS (8 h by default), yet still in the store.
        await call(await seeded(9 * 3600 * 1000)),
      ];
      expect(statuses(reasons)).toEqual([401, 401, 401, 401]);
      expect(reasons.map((r) => r.json().reason)).toEqual(['no_cookie', 'bad_signature', 'unknown_session', 'expired']);
      for (const r of reasons) expect(r.json()).toMatchObject({ error: 'not_logged_in', servedBy: 'app-test' });
      for (const r of reasons) expect(r.headers['cache-control']).toBe('no-store');
    });
  }

  it('an expired login is ended: the next request finds no session', async () => {
    const cookie = await seeded(9 * 3600 * 1000);
    expect((await app.inject({ method: 'POST', url: '/cart', payload: { item: 'x' }, headers: { cookie } })).json().reason).toBe('expired');
    expect((await app.inject({ method: 'GET', url: '/profile', headers: { cookie } })).json().reason).toBe('unknown_session');
  });

  it('maps bad input to 400, 413 and 415 with words to act on', async () => {
    const post = (payload: string, contentType = 'application/json') =>
      app.inject({ method: 'POST', url: '/login', payload, headers: { 'content-type': contentType } });
    const malformed = await post('{"username": "bob",');
    expect([malformed.statusCode, malformed.json().error]).toEqual([400, 'invalid_json']);
    const wrongTypes = await post(JSON.stringify({ username: 123, password: ['x'] }));
    expect([wrongTypes.statusCode, wrongTypes.json().error]).toEqual([400, 'invalid_body']);
    const form = await post('username=bob&password=builder', 'application/x-www-form-urlencoded');
    expect([form.statusCode, form.json().error]).toEqual([415, 'unsupported_media_type']);
    const text = await post('hello', 'text/plain');
    expect(text.statusCode).toBe(415);
    const large = await post(JSON.stringify({ username: 'bob', password: 'x'.repeat(17 * 1024) }));
    expect([large.statusCode, large.json().error]).toEqual([413, 'body_too_large']);
    for (const r of [malformed, wrongTypes, form, large]) expect(r.headers['x-served-by']).toBe('app-test');
  });

  it('says no-store on login, profile, cart, logout and refusals: nothing with a session in it may be cached', async () => {
    const ok = await login(app, 'alice', 'wonderland');
    const cookie = sessionCookie(ok)!;
    const responses = [
      ok,
      await login(app, 'alice', 'wrong'),
      await app.inject({ method: 'GET', url: '/profile', headers: { cookie } }),
      await app.inject({ method: 'POST', url: '/cart', payload: { item: 'tea' }, headers: { cookie } }),
      await app.inject({ method: 'POST', url: '/logout', headers: { cookie } }),
    ];
    expect(statuses(responses)).toEqual([200, 401, 200, 200, 200]);
    for (const r of responses) expect(r.headers['cache-control']).toBe('no-store');
  });

  it('/health shows what the balancer routes by, and nothing about the process', async () => {
    const health = await app.inject({ method: 'GET', url: '/health' });
    expect(health.json()).toEqual({ instance: 'app-test', bootId: expect.stringMatching(/^[0-9a-f]{16}$/), store: 'memory', storeOk: true, sessions: expect.any(Number) });
    // A new start is a new bootId: how a balancer can see a restart without the pid.
    const other = await instance();
    try {
      expect((await other.inject({ method: 'GET', url: '/health' })).json().bootId).not.toBe(health.json().bootId);
    } finally {
      await other.close();
    }
  });

  it('/_control/health shows the process, to the control token only', async () => {
    expect((await app.inject({ method: 'GET', url: '/_control/health' })).statusCode).toBe(403);
    const health = await app.inject({ method: 'GET', url: '/_control/health', headers: { authorization: `Bearer ${CONTROL_TOKEN}` } });
    expect(health.json()).toMatchObject({ instance: 'app-test', store: 'memory', storeOk: true, pid: process.pid, heapUsedMiB: expect.any(Number) });
  });

  it('/_control/seed plants only what a login writes, and never a login from the future', async () => {
    const seed = (session: object) =>
      app.inject({ method: 'POST', url: '/_control/seed', headers: { authorization: `Bearer ${CONTROL_TOKEN}` }, payload: { ids: ['planted'], session } });
    const valid = { cookie: { originalMaxAge: 1000, expires: new Date(Date.now() + 1000).toISOString() }, user: { username: 'bob', displayName: 'Bob' }, createdBy: 'x', cart: [] };
    const future = await seed({ ...valid, loginAt: Date.now() + 3600_000 });
    expect([future.statusCode, future.json().error]).toEqual([400, 'invalid_body']);
    expect((await seed({ ...valid, loginAt: Date.now(), isAdmin: true })).statusCode).toBe(400);
    expect((await seed({ ...valid })).statusCode).toBe(400); // no loginAt: not what a login writes
    expect((await seed({ ...valid, loginAt: Date.now() })).statusCode).toBe(200);
  });

  it('a seeded expiry further away than the idle timeout is cut back to it (the store TTL follows the cookie)', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    const far = { cookie: { expires: '2036-01-01T00:00:00.000Z', originalExpires: '2036-01-01T00:00:00.000Z' }, loginAt: now - 1000 };
    const seeded = seededSession(far as never, 1800, now) as unknown as { cookie: Record<string, string> };
    expect(seeded.cookie).toEqual({ expires: '2026-01-01T00:30:00.000Z', originalExpires: '2026-01-01T00:30:00.000Z' });
    expect(seededSession({ cookie: { expires: 'soon' }, loginAt: now } as never, 1800, now)).toMatch(/not a date/);
  });

  it('/_control/seed takes exactly what a real login stored (the bench seeds with that template)', async () => {
    const cookie = sessionCookie(await login(app, 'bob', 'builder'))!;
    const id = app.unsignCookie(decodeURIComponent(cookie.slice('sid='.length))).value!;
    const stored = await getSession(app.sessionStore, id);
    const response = await app.inject({
      method: 'POST',
      url: '/_control/seed',
      headers: { authorization: `Bearer ${CONTROL_TOKEN}` },
      payload: { ids: ['from-template'], session: JSON.parse(JSON.stringify(stored)) as object },
    });
    expect(response.statusCode).toBe(200);
    const planted = `sid=${encodeURIComponent(app.signCookie('from-template'))}`;
    expect((await app.inject({ method: 'GET', url: '/profile', headers: { cookie: planted } })).json()).toMatchObject({ username: 'bob' });
  });
});

/** The throttle promises, for a store kind: the same in memory and in Redis. */
function throttleRules(env: () => Record<string, string>) {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await instance(env());
    expect(await app.sessionStore.whenReady(5000)).toBe(true);
  });
  afterAll(() => app?.close());

  it(`40 concurrent wrong guesses from one address: at most ${LIMIT} are checked (401), the rest get 429 + Retry-After`, async () => {
    const responses = await Promise.all(Array.from({ length: 40 }, (_, i) => login(app, 'bob', `guess-${i}`, '198.51.100.1')));
    const codes = statuses(responses);
    expect(count(codes, 401)).toBe(LIMIT);
    expect(count(codes, 429)).toBe(40 - LIMIT);
    for (const r of responses.filter((r) => r.statusCode === 429)) {
      expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
      expect(r.headers['set-cookie']).toBeUndefined();
    }
  });

  it('the right password sent last among 40 concurrent guesses does not log in', async () => {
    const guesses = Array.from({ length: 39 }, (_, i) => login(app, 'alice', `guess-${i}`, '198.51.100.2'));
    const right = login(app, 'alice', 'wonderland', '198.51.100.2');
    await Promise.all(guesses);
    expect((await right).statusCode).toBe(429);
  });

  it('the owner, from an address with no failures, logs in while another address hammers the account', async () => {
    const hammering = Array.from({ length: 40 }, (_, i) => login(app, 'bob', `again-${i}`, '198.51.100.3'));
    const owner = await login(app, 'bob', 'builder', '203.0.113.7');
    expect(owner.statusCode).toBe(200);
    await Promise.all(hammering);
    // The hammering address stays stopped for this account, even with the right password.
    expect((await login(app, 'bob', 'builder', '198.51.100.3')).statusCode).toBe(429);
  });

  it('an unknown username is refused exactly like a real one (a 429 reveals nothing)', async () => {
    const codes = statuses(await Promise.all(Array.from({ length: 10 }, () => login(app, 'ghost', 'guess', '198.51.100.4'))));
    expect([count(codes, 401), count(codes, 429)]).toEqual([LIMIT, 10 - LIMIT]);
  });
}

describe('login throttle, memory mode', () => {
  throttleRules(() => ({}));
});

describe('login throttle, redis mode (real redis-server)', () => {
  throttleRules(() => ({ STORE: 'redis', REDIS_URL: inject('redisUrl'), REDIS_KEY_PREFIX: `test:instance:${randomBytes(4).toString('hex')}:` }));
});

describe('an instance whose Redis does not answer', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await instance({ STORE: 'redis', REDIS_URL: `redis://127.0.0.1:${await freePort()}` });
  });
  afterAll(() => app?.close());

  it('answers 503 + Retry-After fast, and keeps the session cookie', async () => {
    const cookie = `sid=${encodeURIComponent(app.signCookie('some-session'))}`;
    const started = Date.now();
    const profile = await app.inject({ method: 'GET', url: '/profile', headers: { cookie } });
    expect(profile.statusCode).toBe(503);
    expect(profile.json().error).toBe('store_unavailable');
    expect(profile.headers['retry-after']).toBe('1');
    expect(profile.headers['set-cookie']).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(1500);
    const loginTry = await login(app, 'bob', 'builder');
    expect([loginTry.statusCode, loginTry.json().error]).toEqual([503, 'store_unavailable']);
    expect((await app.inject({ method: 'GET', url: '/health' })).json()).toMatchObject({ store: 'redis', storeOk: false });
  });
});

describe('X-Forwarded-For from a local process', () => {
  const wrongGuesses = async (app: FastifyInstance, headers: (i: number) => Record<string, string>) =>
    statuses(await Promise.all(Array.from({ length: LIMIT + 1 }, (_, i) => login(app, 'bob', `guess-${i}`, '127.0.0.1', headers(i)))));

  it('without TRUST_PROXY_TOKEN: believed from 127.0.0.1 (each forged address starts from zero)', async () => {
    const app = await instance();
    try {
      expect(await wrongGuesses(app, (i) => ({ 'x-forwarded-for': `198.51.100.${i + 10}` }))).not.toContain(429);
    } finally {
      await app.close();
    }
  });

  it('with TRUST_PROXY_TOKEN: believed only with the token; a forgery without it counts against the real address', async () => {
    const token = randomBytes(16).toString('hex');
    const app = await instance({ TRUST_PROXY_TOKEN: token });
    try {
      expect(await wrongGuesses(app, (i) => ({ 'x-forwarded-for': `198.51.100.${i + 10}` }))).toContain(429);
      expect(await wrongGuesses(app, (i) => ({ 'x-forwarded-for': `198.51.100.${i + 30}`, [PROXY_TOKEN_HEADER]: token }))).not.toContain(429);
      const wrongToken = { 'x-forwarded-for': '198.51.100.99', [PROXY_TOKEN_HEADER]: 'x'.repeat(token.length) };
      expect((await login(app, 'bob', 'guess', '127.0.0.1', wrongToken)).statusCode).toBe(429);
    } finally {
      await app.close();
    }
  });
});
