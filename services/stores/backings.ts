import { MemoryCarts } from '../cart/memory.js';
import { RedisCarts } from '../cart/redis.js';
import { NoLogbook } from '../sealed/no-logbook.js';
import type { RevocationList } from '../sealed/revocation.js';
import { MemoryAttemptCounter } from '../throttle/memory.js';
import { RedisAttemptCounter } from '../throttle/redis.js';
import { MemoryUserIndex } from '../user-index/memory.js';
import { RedisUserIndex } from '../user-index/redis.js';
import { Expiring, GuardedMemoryStore } from './guarded-memory.js';
import { GuardedRedisSessionStore } from './guarded-redis.js';
import { MemorySessionStore } from './memory.js';
import type { RaceGuard } from './race-guard.js';
import { metaPrefix, type RedisStoreOptions } from './redis.js';
import type { Backing } from './switchable.js';
import type { SessionStore } from './types.js';

/** Sessions, login counters, user index and carts in this process's memory. */
export function memoryBacking(ttlSeconds: number, sweepIntervalMs: number, guard: RaceGuard): Backing {
  const race = { ended: new Expiring<true>(), carts: new Expiring<string[]>() };
  const store = new GuardedMemoryStore(new MemorySessionStore(ttlSeconds, sweepIntervalMs), guard, race, ttlSeconds);
  return { ...withLocalCounters(store, sweepIntervalMs), carts: new MemoryCarts(race) };
}

/** A store with login counters and user index in this process's memory beside it. */
function withLocalCounters(store: SessionStore, sweepIntervalMs: number): Omit<Backing, 'carts'> {
  const attempts = new MemoryAttemptCounter(sweepIntervalMs);
  return {
    store,
    attempts,
    users: new MemoryUserIndex(),
    close: async () => {
      attempts.close();
      await store.close();
    },
  };
}

/** All four in Redis, over the session store's one connection. */
export function redisBacking(options: RedisStoreOptions, guard: RaceGuard): Backing {
  const store = new GuardedRedisSessionStore(options, guard);
  const meta = metaPrefix(options.keyPrefix);
  return {
    store,
    attempts: new RedisAttemptCounter(store.connection, meta),
    users: new RedisUserIndex(store.connection, meta),
    carts: new RedisCarts(store.connection, meta),
    close: () => store.close(),
  };
}

/**
 * Stateless mode: no sessions to keep. Login counters stay in this process (each instance
 * counts on its own, as in memory mode); the user index is never used (a card is not listed),
 * and the cart travels in the card, so there is no shared cart to change atomically.
 */
export function sealedBacking(revocation: RevocationList, sweepIntervalMs: number): Backing {
  return { ...withLocalCounters(new NoLogbook(revocation), sweepIntervalMs), carts: null };
}
