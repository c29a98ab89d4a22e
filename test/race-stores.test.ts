import { randomBytes } from 'node:crypto';
import type { Session } from 'fastify';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { MemoryCarts } from '../services/cart/memory.js';
import { RedisCarts } from '../services/cart/redis.js';
import type { SessionCarts } from '../services/cart/types.js';
import { Expiring, GuardedMemoryStore } from '../services/stores/guarded-memory.js';
import { GuardedRedisSessionStore } from '../services/stores/guarded-redis.js';
import { MemorySessionStore } from '../services/stores/memory.js';
import { cartKey, endedKey, RaceGuard, SessionEndedError } from '../services/stores/race-guard.js';
import { metaPrefix } from '../services/stores/redis.js';
import { destroySession, getSession, setSession, type SessionStore } from '../services/stores/types.js';
import { realRedis } from './helpers/redis.js';

const session = (user = 'testuser') =>
  ({ cookie: { originalMaxAge: 60_000, expires: new Date(Date.now() + 60_000) }, user: { username: user, displayName: user } }) as unknown as Session;

interface Kit {
  store: SessionStore;
  carts: SessionCarts;
  guard: RaceGuard;
}

/** The guarantees both stores give, and what they do without the guard. */
function guardContract(name: string, make: () => Promise<Kit>) {
  describe(name, () => {
    it('loads the cart from its own structure, whatever copy the session document holds', async () => {
      const { store, carts } = await make();
      await setSession(store, 'f', { ...session(), cart: ['stale'] } as unknown as Session);
      expect((await getSession(store, 'f'))!.cart).toEqual([]);
      // Quotes, a slash, accents and an emoji come back as sent (the Redis cart is JSON written by Lua's cjson).
      await carts.add('f', 'fresh', 20, 60);
      await carts.add('f', 'hat "blue" / é 🎩 \\', 20, 60);
      expect((await getSession(store, 'f'))!.cart).toEqual(['fresh', 'hat "blue" / é 🎩 \\']);
    });

    it('never writes back a session destroyed after it was read', async () => {
      const { store } = await make();
      await setSession(store, 'a', session());
      const loaded = (await getSession(store, 'a'))!;
      await destroySession(store, 'a');
      await expect(setSession(store, 'a', loaded)).rejects.toBeInstanceOf(SessionEndedError);
      expect(await getSession(store, 'a')).toBeNull();
    });

    it('without the guard, the same write brings the session back (the bug the lab shows)', async () => {
      const { store, guard } = await make();
      guard.on = false;
      await setSession(store, 'b', session());
      const loaded = (await getSession(store, 'b'))!;
      await destroySession(store, 'b');
      await setSession(store, 'b', loaded);
      expect(await getSession(store, 'b')).not.toBeNull();
    });

    it('keeps every one of many concurrent cart adds, newest last, up to the limit', async () => {
      const { store, carts } = await make();
      await setSession(store, 'c', session());
      const items = Array.from({ length: 50 }, (_, i) => `item-${i}`);
      await Promise.all(items.map((item) => carts.add('c', item, 100, 60)));
      expect([...(await getSession(store, 'c'))!.cart!].sort()).toEqual([...items].sort());
      expect(await carts.add('c', 'last', 5, 60)).toEqual(expect.arrayContaining(['last']));
      expect((await getSession(store, 'c'))!.cart).toHaveLength(5);
    });

    it('refuses a cart add after the logout, and the logout takes the cart with it', async () => {
      const { store, carts } = await make();
      await setSession(store, 'd', session());
      await carts.add('d', 'x', 20, 60);
      await destroySession(store, 'd');
      expect(await carts.add('d', 'y', 20, 60)).toBeNull();
      expect(await getSession(store, 'd')).toBeNull();
    });
  });
}

guardContract('guarded memory store', async () => {
  const guard = new RaceGuard(true);
  const race = { ended: new Expiring<true>(), carts: new Expiring<string[]>() };
  return { store: new GuardedMemoryStore(new MemorySessionStore(60), guard, race, 60), carts: new MemoryCarts(race), guard };
});

describe('guarded redis store (real redis-server)', () => {
  const redis = realRedis();
  const prefix = `test:${randomBytes(4).toString('hex')}:`;
  const kits: GuardedRedisSessionStore[] = [];
  const make = async (): Promise<Kit> => {
    const guard = new RaceGuard(true);
    const store = new GuardedRedisSessionStore({ url: inject('redisUrl'), keyPrefix: prefix, defaultTtlSeconds: 60 }, guard);
    kits.push(store);
    expect(await store.whenReady(5000)).toBe(true);
    return { store, carts: new RedisCarts(store.connection, metaPrefix(prefix)), guard };
  };
  afterAll(() => Promise.all(kits.map((k) => k.close())));
  guardContract('contract', make);

  it('keeps the tombstone as long as a session lives, and the cart follows the session TTL', async () => {
    const { store, carts } = await make();
    await setSession(store, 'e', session());
    await carts.add('e', 'x', 20, 5);
    await setSession(store, 'e', session());
    const meta = metaPrefix(prefix);
    expect(await redis.redis.ttl(cartKey(meta, 'e'))).toBeGreaterThan(5);
    await destroySession(store, 'e');
    const ttl = await redis.redis.ttl(endedKey(meta, 'e'));
    expect(ttl).toBeGreaterThan(50);
    expect(ttl).toBeLessThanOrEqual(60);
    expect(await redis.redis.exists(cartKey(meta, 'e'), prefix + 'e')).toBe(0);
  });
});
