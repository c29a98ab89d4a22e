import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Lab } from '../scripts/lab.js';
import { normalizeUsername } from '../services/accounts.js';
import { Client, loginFrom, type LoginAnswer } from './helpers/http.js';
import { startTestLab } from './helpers/lab.js';

const LIMIT = 3;
const PER_ADDRESS = 12;
const LIMITS = { LOGIN_MAX_FAILURES: String(LIMIT), LOGIN_MAX_FAILURES_PER_IP: String(PER_ADDRESS), LOGIN_WINDOW_SECONDS: '60' };

const count = (answers: LoginAnswer[], status: number) => answers.filter((a) => a.status === status).length;

/** `n` wrong guesses for `username`, all sent at once from `address`; `last` (if given) is sent after them, still concurrently. */
function burst(lab: Lab, address: string, username: string, n: number, last?: string): Promise<LoginAnswer[]> {
  const guesses = Array.from({ length: n }, (_, i) => loginFrom(lab.url, address, username, `guess-${i}`));
  if (last !== undefined) guesses.push(loginFrom(lab.url, address, username, last));
  return Promise.all(guesses);
}

describe('the username rule: Unicode NFKC, then lower case (nothing else: no trimming)', () => {
  it('folds full-width letters, compatibility forms and case onto one name', () => {
    expect(normalizeUsername('ＲＡＶＩ')).toBe('ravi');
    expect(normalizeUsername('Ravi')).toBe('ravi');
    expect(normalizeUsername('ﬁnn')).toBe('finn'); // the "fi" ligature
    expect(normalizeUsername('ravi ')).toBe('ravi ');
  });
});

// Each test is a different client: its own loopback source address (127.0.0.x), so one test's
// failures never count against another's.
describe('login through the balancer (redis mode: throttling counted in Redis across instances)', () => {
  let lab: Lab;
  beforeAll(async () => {
    // Every loopback address counts as the balancer's (TRUST_PROXY), as 127.0.0.1 does on a shared
    // machine: only the balancer's token tells its X-Forwarded-For from a forgery (last test).
    lab = await startTestLab({ mode: 'redis', instances: 2, instanceEnv: { ...LIMITS, TRUST_PROXY: '127.0.0.0/8' } });
  });
  afterAll(() => lab?.close());

  it('logs in with the same account whatever the width or case of the username', async () => {
    for (const name of ['ＲＡＶＩ', 'Ravi', 'RAVI']) {
      const login = await new Client(lab.url).login(name, 'gold-member');
      expect(login.status).toBe(200);
      expect(login.json.user).toMatchObject({ username: 'ravi' });
    }
    expect((await new Client(lab.url).login('ravi ', 'gold-member')).status).toBe(401);
  });

  it('gives an unknown user and a wrong password the same status and body', async () => {
    const wrongPassword = await new Client(lab.url).login('bob', 'not-his');
    const unknownUser = await new Client(lab.url).login('nobody-at-all', 'not-his');
    expect(wrongPassword.status).toBe(401);
    expect({ ...wrongPassword.json, servedBy: null }).toEqual({ ...unknownUser.json, servedBy: null });
  });

  it(`refuses an address with 429 + Retry-After after ${LIMIT} failures on an account, whichever instance counted them, even with the right password`, async () => {
    const servedBy = new Set<string>();
    for (let i = 0; i < LIMIT; i++) {
      const failed = await loginFrom(lab.url, '127.0.0.11', 'alice', `guess-${i}`);
      expect(failed.status).toBe(401);
      servedBy.add(failed.servedBy!);
    }
    expect(servedBy.size).toBe(2); // the round robin spread the failures: Redis added them up

    for (const name of ['alice', 'ALICE', 'ａｌｉｃｅ']) {
      const blocked = await loginFrom(lab.url, '127.0.0.11', name, 'wonderland');
      expect(blocked.status).toBe(429);
      expect(Number(blocked.retryAfter)).toBeGreaterThan(0);
      expect(blocked.setCookie).toEqual([]);
    }
    // Other accounts from that address, and that account from another address, are not affected.
    expect((await loginFrom(lab.url, '127.0.0.11', 'bob', 'builder')).status).toBe(200);
    expect((await loginFrom(lab.url, '127.0.0.12', 'alice', 'wonderland')).status).toBe(200);
  });

  it(`40 concurrent wrong guesses from one address: at most ${LIMIT} are checked (401), the rest get 429`, async () => {
    const answers = await burst(lab, '127.0.0.13', 'bob', 40);
    expect(count(answers, 401)).toBeGreaterThan(0);
    expect(count(answers, 401)).toBeLessThanOrEqual(LIMIT);
    expect(count(answers, 401) + count(answers, 429)).toBe(40);
  });

  it('the right password sent last among 40 concurrent guesses from one address does not log in', async () => {
    const answers = await burst(lab, '127.0.0.14', 'bob', 39, 'builder');
    expect(answers.at(-1)!.status).toBe(429);
    expect(count(answers, 200)).toBe(0);
  });

  it('the owner logs in from another address while one hammers the account; the hammering address stays stopped', async () => {
    const hammering = burst(lab, '127.0.0.15', 'ravi', 40);
    const owner = await loginFrom(lab.url, '127.0.0.16', 'ravi', 'gold-member');
    expect(owner.status).toBe(200);
    expect(count(await hammering, 401)).toBeLessThanOrEqual(LIMIT);
    expect((await loginFrom(lab.url, '127.0.0.15', 'ravi', 'gold-member')).status).toBe(429);
  });

  it('an unknown username is throttled exactly like a real one (429 reveals nothing)', async () => {
    for (let i = 0; i < LIMIT; i++) expect((await loginFrom(lab.url, '127.0.0.17', 'ghost', `guess-${i}`)).status).toBe(401);
    expect((await loginFrom(lab.url, '127.0.0.17', 'ghost', 'guess')).status).toBe(429);
  });

  it(`counts per client address too (${PER_ADDRESS}, whatever the names), and a forged X-Forwarded-For does not reset the count`, async () => {
    const statuses: number[] = [];
    for (let i = 0; i <= PER_ADDRESS; i++) {
      const forged = `203.0.113.${i + 1}`;
      const client = new Client(lab.url);
      statuses.push((await client.request('POST', '/login', { username: `spray-${i}`, password: 'x' }, { 'x-forwarded-for': forged })).status);
    }
    // From 127.0.0.1, where the first two tests above failed 3 times (their successes do not count):
    // the forged addresses would each start from zero if believed.
    expect(statuses.indexOf(429)).toBe(PER_ADDRESS - 3);
  });

  it('a local process that goes to an instance port directly cannot forge X-Forwarded-For either (the balancer proves itself with a token)', async () => {
    // The lab gives the balancer and the instances one TRUST_PROXY_TOKEN. Without it, the instance
    // would believe X-Forwarded-For from this trusted address, and every forged address would
    // start from zero; with it, the count stays on this socket's own address.
    const instance = lab.instances[0]!.url;
    const statuses: number[] = [];
    for (let i = 0; i <= PER_ADDRESS; i++) {
      statuses.push((await loginFrom(instance, '127.0.0.23', `direct-${i}`, 'x', { 'x-forwarded-for': `198.51.100.${i + 1}` })).status);
    }
    expect(statuses.indexOf(429)).toBe(PER_ADDRESS);
  });
});

describe('login throttling with memory stores: counted per instance (the honest weakness)', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await startTestLab({ mode: 'memory', instances: 2, instanceEnv: LIMITS });
  });
  afterAll(() => lab?.close());

  it(`lets through 2 × ${LIMIT} failures from one address before refusing, because each instance counts alone`, async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 2 * LIMIT + 1; i++) statuses.push((await loginFrom(lab.url, '127.0.0.21', 'bob', `guess-${i}`)).status);
    expect(statuses).toEqual([...Array<number>(2 * LIMIT).fill(401), 429]);
  });

  it(`40 concurrent wrong guesses from one address: each instance checks at most ${LIMIT}`, async () => {
    const answers = await burst(lab, '127.0.0.22', 'alice', 40);
    for (const id of lab.instances.map((i) => i.id)) {
      expect(answers.filter((a) => a.servedBy === id && a.status === 401).length).toBeLessThanOrEqual(LIMIT);
    }
    expect(count(answers, 401)).toBeGreaterThan(0);
    expect(count(answers, 401) + count(answers, 429)).toBe(40);
  });

  it('the right password sent last among 40 concurrent guesses from one address does not log in', async () => {
    const answers = await burst(lab, '127.0.0.23', 'ravi', 39, 'gold-member');
    expect(count(answers, 200)).toBe(0);
  });

  it('the owner logs in from another address while one hammers the account', async () => {
    const hammering = burst(lab, '127.0.0.24', 'testuser', 40);
    expect((await loginFrom(lab.url, '127.0.0.25', 'testuser', 'testpass')).status).toBe(200);
    await hammering;
    expect((await loginFrom(lab.url, '127.0.0.24', 'testuser', 'testpass')).status).toBe(429);
  });
});
