import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { realRedis } from './helpers/redis.js';
import { MemoryUserIndex } from '../services/user-index/memory.js';
import { RedisUserIndex } from '../services/user-index/redis.js';
import type { UserIndex } from '../services/user-index/types.js';

const user = () => `user-${randomBytes(4).toString('hex')}`;

function indexContract(make: () => UserIndex) {
  it('gives back every session of a user once, and only theirs', async () => {
    const index = make();
    const [bob, alice] = [user(), user()];
    await Promise.all([index.add(bob, 's1', 60), index.add(bob, 's2', 60), index.add(alice, 's3', 60)]);
    expect((await index.take(bob)).sort()).toEqual(['s1', 's2']);
    expect(await index.take(bob)).toEqual([]);
    expect(await index.take(alice)).toEqual(['s3']);
  });

  it('a write renews an entry: the session is named as long as its latest write says it lives', async () => {
    const index = make();
    const bob = user();
    await index.add(bob, 'kept-alive', 1);
    await index.add(bob, 'kept-alive', 60);
    expect(await index.take(bob)).toEqual(['kept-alive']);
  });
}

describe('memory user index', () => {
  indexContract(() => new MemoryUserIndex());

  it('leaves out sessions whose time is over', async () => {
    const index = new MemoryUserIndex();
    const bob = user();
    await index.add(bob, 'over', 0);
    await index.add(bob, 'live', 60);
    expect(await index.take(bob)).toEqual(['live']);
  });
});

describe('redis user index (real redis-server)', () => {
  const prefix = `test:user-index:${randomBytes(4).toString('hex')}:`;
  const real = realRedis();

  indexContract(() => new RedisUserIndex(real.connection, prefix));

  it('the index key lives exactly as long as its longest-lived session, whatever order they were written in', async () => {
    const index = new RedisUserIndex(real.connection, prefix);
    const bob = user();
    await index.add(bob, 'long', 50);
    await index.add(bob, 'short', 5);
    const ttl = await real.redis.pttl(`${prefix}user:${bob}`);
    expect(ttl).toBeGreaterThan(45_000);
    expect(ttl).toBeLessThanOrEqual(50_000);
    await index.add(bob, 'short', 80);
    expect(await real.redis.pttl(`${prefix}user:${bob}`)).toBeGreaterThan(75_000);
    expect((await index.take(bob)).sort()).toEqual(['long', 'short']);
    expect(await real.redis.exists(`${prefix}user:${bob}`)).toBe(0);
  });

  it('drops expired entries on the next write', async () => {
    const index = new RedisUserIndex(real.connection, prefix);
    const bob = user();
    await real.redis.zadd(`${prefix}user:${bob}`, Date.now() - 1000, 'stale');
    await index.add(bob, 'live', 60);
    expect(await real.redis.zrange(`${prefix}user:${bob}`, '0', '-1')).toEqual(['live']);
  });
});

describe('memory user index under many sessions of one user', () => {
  it('100k writes for one user take no scan each (no quadratic cost), and only the live session is given back', async () => {
    const index = new MemoryUserIndex();
    const bob = user();
    const started = Date.now();
    for (let i = 0; i < 100_000; i++) await index.add(bob, `dead-${i}`, 0);
    await index.add(bob, 'live', 60);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(await index.take(bob)).toEqual(['live']);
  });
});

describe('the per-user cap (SESSION_MAX_PER_USER)', () => {
  const real = realRedis();

  const kinds: Array<[string, () => UserIndex]> = [
    ['memory', () => new MemoryUserIndex()],
    ['redis', () => new RedisUserIndex(real.connection, `test:cap:${randomBytes(4).toString('hex')}:`)],
  ];
  for (const [kind, make] of kinds) {
    it(`${kind}: beyond the cap the sessions due to expire first are returned and forgotten`, async () => {
      const index = make();
      const bob = user();
      expect(await index.add(bob, 's1', 10, 2)).toEqual([]);
      expect(await index.add(bob, 's2', 20, 2)).toEqual([]);
      expect(await index.add(bob, 's3', 30, 2)).toEqual(['s1']);
      // A refresh moves a session to the back of the line.
      expect(await index.add(bob, 's2', 40, 2)).toEqual([]);
      expect(await index.add(bob, 's4', 50, 2)).toEqual(['s3']);
      expect((await index.take(bob)).sort()).toEqual(['s2', 's4']);
    });
  }
});
