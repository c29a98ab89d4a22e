import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { RedisRevocationList } from '../services/sealed/revocation.js';
import { realRedis } from './helpers/redis.js';

// The revocation list against the suite's real redis-server: what it writes, and for how long.
describe('the revocation list in Redis', () => {
  const real = realRedis();
  const prefix = `test:${randomBytes(4).toString('hex')}:card:`;
  const LIFETIME_MS = 60_000;
  let list: RedisRevocationList;
  beforeAll(async () => {
    list = new RedisRevocationList({ url: inject('redisUrl') }, prefix, LIFETIME_MS);
    expect(await list.whenReady(5000)).toBe(true);
  });
  afterAll(() => list?.close());

  it('lists a logged-out card until it would have expired anyway, and no longer', async () => {
    const until = Date.now() + 10_000;
    await list.revoke('card-a', until);
    const ttl = await real.redis.pttl(`${prefix}revoked:card-a`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(10_000);
    expect(await list.refuses('card-a', 'bob', 0)).toBe('logged_out');
    expect(await list.refuses('card-b', 'bob', 0)).toBeNull();
    // A card already past its end is not listed at all.
    await list.revoke('card-old', Date.now() - 1);
    expect(await real.redis.exists(`${prefix}revoked:card-old`)).toBe(0);
  });

  it('refuses every card sealed before a log out everywhere, and none sealed after', async () => {
    const before = await list.generation('carol');
    expect(before).toBe(0);
    await list.revokeUser('carol');
    const after = await list.generation('carol');
    expect(after).toBe(1);
    expect(await list.refuses('card-c', 'carol', before)).toBe('logged_out_everywhere');
    expect(await list.refuses('card-d', 'carol', after)).toBeNull();
    // Another user is untouched.
    expect(await list.refuses('card-e', 'dave', 0)).toBeNull();
  });

  it('keeps a generation at least as long as the longest card sealed under it', async () => {
    await list.generation('erin');
    const ttl = await real.redis.pttl(`${prefix}generation:erin`);
    expect(ttl).toBeGreaterThan(LIFETIME_MS - 5_000);
    expect(ttl).toBeLessThanOrEqual(LIFETIME_MS);
  });
});
