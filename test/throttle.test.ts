import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { realRedis } from './helpers/redis.js';
import { LoginThrottle, type ThrottleVerdict } from '../services/throttle/login.js';
import { MemoryAttemptCounter } from '../services/throttle/memory.js';
import { RedisAttemptCounter } from '../services/throttle/redis.js';
import type { AttemptCounter } from '../services/throttle/types.js';

const LIMITS = { perAccountAndAddress: 5, perAddress: 30, windowSeconds: 60 };
const allowed = (verdicts: ThrottleVerdict[]) => verdicts.filter((v) => v.allowed).length;

// The same promises for both counters: what the login throttle relies on.
function counterContract(name: string, make: () => AttemptCounter) {
  describe(`${name} attempt counter`, () => {
    it('counts concurrent attempts one by one: 40 at once are counts 1..40', async () => {
      const counter = make();
      const key = `k-${randomBytes(4).toString('hex')}`;
      const counts = await Promise.all(Array.from({ length: 40 }, () => counter.add([key], 60)));
      expect(counts.map(([c]) => c!.count).sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
      for (const [c] of counts) expect(c!.resetInSeconds).toBeGreaterThan(0);
      for (const [c] of counts) expect(c!.resetInSeconds).toBeLessThanOrEqual(60);
    });

    it('keeps keys apart, takes one back with undo, and forgets with clear', async () => {
      const counter = make();
      const [a, b] = [`a-${randomBytes(4).toString('hex')}`, `b-${randomBytes(4).toString('hex')}`];
      await counter.add([a, b], 60);
      await counter.add([a], 60);
      await counter.undo(a);
      expect((await counter.add([a, b], 60)).map((c) => c.count)).toEqual([2, 2]);
      await counter.clear(a);
      expect((await counter.add([a], 60))[0]!.count).toBe(1);
    });

    it('undo on a key with no window does not create one', async () => {
      const counter = make();
      const key = `u-${randomBytes(4).toString('hex')}`;
      await counter.undo(key);
      expect((await counter.add([key], 60))[0]!.count).toBe(1);
    });
  });
}

describe('memory attempt counter', () => {
  const opened: MemoryAttemptCounter[] = [];
  afterAll(() => opened.forEach((c) => c.close()));
  counterContract('memory', () => {
    const counter = new MemoryAttemptCounter();
    opened.push(counter);
    return counter;
  });

  it('sweeps windows that ended, so a spray of names does not stay in memory', async () => {
    const counter = new MemoryAttemptCounter();
    opened.push(counter);
    await counter.add(['old'], 1);
    counter.sweep(Date.now() + 2000);
    expect((await counter.add(['old'], 60))[0]!.count).toBe(1);
  });
});

describe('redis attempt counter (real redis-server)', () => {
  const prefix = `test:throttle:${randomBytes(4).toString('hex')}:`;
  const real = realRedis();

  counterContract('redis', () => new RedisAttemptCounter(real.connection, prefix));

  it('opens the window with a TTL at the first attempt, and undo never leaves a key without one', async () => {
    const counter = new RedisAttemptCounter(real.connection, prefix);
    await counter.add(['ttl'], 30);
    const ttl = await real.redis.ttl(`${prefix}fail:ttl`);
    expect(ttl).toBeGreaterThan(25);
    expect(ttl).toBeLessThanOrEqual(30);
    await counter.undo('gone');
    expect(await real.redis.exists(`${prefix}fail:gone`)).toBe(0);
  });
});

describe('login throttle (count first, then check)', () => {
  const opened: MemoryAttemptCounter[] = [];
  const memory = () => {
    const counter = new MemoryAttemptCounter();
    opened.push(counter);
    return counter;
  };
  afterAll(() => opened.forEach((c) => c.close()));

  it('lets at most the limit of 40 concurrent guesses on one account from one address through', async () => {
    const counter = memory();
    const throttle = new LoginThrottle(() => counter, LIMITS);
    const verdicts = await Promise.all(Array.from({ length: 40 }, () => throttle.reserve('bob', '198.51.100.1')));
    expect(allowed(verdicts)).toBe(LIMITS.perAccountAndAddress);
    for (const v of verdicts) if (!v.allowed) expect(v.retryAfterSeconds).toBeGreaterThan(0);
  });

  it('never locks the owner out: another address with no failures gets in while one hammers', async () => {
    const counter = memory();
    const throttle = new LoginThrottle(() => counter, LIMITS);
    await Promise.all(Array.from({ length: 20 }, () => throttle.reserve('bob', '198.51.100.1')));
    expect((await throttle.reserve('bob', '198.51.100.2')).allowed).toBe(true);
    expect((await throttle.reserve('bob', '198.51.100.1')).allowed).toBe(false);
  });

  it('folds the username (ＢＯＢ is bob) and counts an unknown name like a real one', async () => {
    const counter = memory();
    const throttle = new LoginThrottle(() => counter, LIMITS);
    for (const name of ['bob', 'BOB', 'ＢＯＢ', 'Bob', 'bOb']) expect((await throttle.reserve(name, '198.51.100.1')).allowed).toBe(true);
    expect((await throttle.reserve('bob', '198.51.100.1')).allowed).toBe(false);
    for (let i = 0; i < 5; i++) expect((await throttle.reserve('nobody-at-all', '198.51.100.1')).allowed).toBe(true);
    expect((await throttle.reserve('nobody-at-all', '198.51.100.1')).allowed).toBe(false);
  });

  it('refuses an address that sprays many accounts, whatever the names', async () => {
    const counter = memory();
    const throttle = new LoginThrottle(() => counter, LIMITS);
    const verdicts = await Promise.all(Array.from({ length: 40 }, (_, i) => throttle.reserve(`user-${i}`, '198.51.100.1')));
    expect(allowed(verdicts)).toBe(LIMITS.perAddress);
    expect((await throttle.reserve('bob', '198.51.100.3')).allowed).toBe(true);
  });

  it('a success clears its account+address count and gives the address its attempt back', async () => {
    const counter = memory();
    const throttle = new LoginThrottle(() => counter, { ...LIMITS, perAddress: 3 });
    for (let i = 0; i < 10; i++) {
      const verdict = await throttle.reserve(`user-${i}`, '198.51.100.1');
      expect(verdict.allowed).toBe(true);
      if (verdict.allowed) await throttle.succeeded(verdict.ticket);
    }
  });

  it('bounds successful logins per account (from any address) and per address, before any password check', async () => {
    const counter = memory();
    const throttle = new LoginThrottle(() => counter, { ...LIMITS, loginsPerAccount: 3, loginsPerAddress: 5 });
    for (let i = 0; i < 3; i++) {
      const verdict = await throttle.reserve('bob', `198.51.100.${i}`);
      expect(verdict.allowed).toBe(true);
      if (verdict.allowed) await throttle.succeeded(verdict.ticket);
    }
    expect(await throttle.reserve('bob', '198.51.100.9')).toMatchObject({ allowed: false, reason: 'logins' });
    for (let i = 0; i < 2; i++) {
      const verdict = await throttle.reserve(`user-${i}`, '198.51.100.0');
      if (verdict.allowed) await throttle.succeeded(verdict.ticket);
    }
    // 198.51.100.0 has made 1 + 2 logins; two more accounts would make 5, the sixth is refused.
    const more = await Promise.all(['x', 'y', 'z'].map((name) => throttle.reserve(name, '198.51.100.0')));
    expect(more.map((v) => v.allowed)).toEqual([true, true, false]);
  });

  it('failures never use up the owner’s logins: a failed or refused attempt gives its login slot back', async () => {
    const counter = memory();
    const throttle = new LoginThrottle(() => counter, { ...LIMITS, loginsPerAccount: 2 });
    // A stranger fails on purpose from many addresses, far past the failure limits of each.
    for (let a = 0; a < 4; a++) {
      for (let i = 0; i < 10; i++) {
        const verdict = await throttle.reserve('bob', `203.0.113.${a}`);
        if (verdict.allowed) await throttle.failed(verdict.ticket);
      }
    }
    const owner = await throttle.reserve('bob', '198.51.100.7');
    expect(owner.allowed).toBe(true);
  });
});
