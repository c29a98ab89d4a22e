import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Lab } from '../scripts/lab.js';
import { normalizeUsername } from '../services/accounts.js';
import { Client } from './helpers/http.js';
import { startTestLab } from './helpers/lab.js';

const LIMITS = { LOGIN_MAX_FAILURES: '3', LOGIN_MAX_FAILURES_PER_IP: '12', LOGIN_WINDOW_SECONDS: '60' };

describe('the username rule: Unicode NFKC, then lower case (nothing else: no trimming)', () => {
  it('folds full-width letters, compatibility forms and case onto one name', () => {
    expect(normalizeUsername('ＲＡＶＩ')).toBe('ravi');
    expect(normalizeUsername('Ravi')).toBe('ravi');
    expect(normalizeUsername('ﬁnn')).toBe('finn'); // the "fi" ligature
    expect(normalizeUsername('ravi ')).toBe('ravi ');
  });
});

describe('login through the balancer (redis mode: throttling counted in Redis across instances)', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await startTestLab({ mode: 'redis', instances: 2, instanceEnv: LIMITS });
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

  it('refuses an account with 429 + Retry-After after 3 failures, whichever instance counted them, even with the right password', async () => {
    const servedBy = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const failed = await new Client(lab.url).login('alice', `guess-${i}`);
      expect(failed.status).toBe(401);
      servedBy.add(failed.servedBy!);
    }
    expect(servedBy.size).toBe(2); // the round robin spread the failures: Redis added them up

    for (const name of ['alice', 'ALICE', 'ａｌｉｃｅ']) {
      const blocked = await new Client(lab.url).login(name, 'wonderland');
      expect(blocked.status).toBe(429);
      expect(blocked.json.error).toBe('too_many_attempts');
      expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(blocked.headers.getSetCookie()).toEqual([]);
    }
    // Other accounts are not affected.
    expect((await new Client(lab.url).login('bob', 'builder')).status).toBe(200);
  });

  it('an unknown username is throttled exactly like a real one (429 reveals nothing)', async () => {
    for (let i = 0; i < 3; i++) expect((await new Client(lab.url).login('ghost', `guess-${i}`)).status).toBe(401);
    expect((await new Client(lab.url).login('ghost', 'guess')).status).toBe(429);
  });

  it('counts per client address too, and a forged X-Forwarded-For does not reset the count', async () => {
    // 9 failures so far from 127.0.0.1 in this file. Forged addresses would each start from zero if believed.
    let status = 0;
    let attempts = 0;
    while (status !== 429 && attempts < 10) {
      attempts++;
      const forged = `203.0.113.${attempts}`;
      status = (await new Client(lab.url).request('POST', '/login', { username: `spray-${attempts}`, password: 'x' }, { 'x-forwarded-for': forged })).status;
    }
    expect(status).toBe(429);
    expect(attempts).toBeLessThanOrEqual(4); // 12 per address: 9 + 3 failures, the 4th is refused
  });
});

describe('login throttling with memory stores: counted per instance (the honest weakness)', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await startTestLab({ mode: 'memory', instances: 2, instanceEnv: LIMITS });
  });
  afterAll(() => lab?.close());

  it('lets through 2 × 3 failures before refusing, because each instance counts alone', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) statuses.push((await new Client(lab.url).login('bob', `guess-${i}`)).status);
    expect(statuses).toEqual([401, 401, 401, 401, 401, 401, 429]);
  });
});
