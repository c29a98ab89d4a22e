import { MemoryAttemptCounter } from '../throttle/memory.js';
import { RedisAttemptCounter } from '../throttle/redis.js';
import { MemoryUserIndex } from '../user-index/memory.js';
import { RedisUserIndex } from '../user-index/redis.js';
import { MemoryCarts } from '../cart/memory.js';
import { RedisCarts } from '../cart/redis.js';
import { Expiring, GuardedMemoryStore } from './guarded-memory.js';
import { GuardedRedisSessionStore } from './guarded-redis.js';
import { MemorySessionStore } from './memory.js';
import type { RaceGuard } from './race-guard.js';
import { metaPrefix, type RedisStoreOptions } from './redis.js';
import type { Backing } from './switchable.js';

/** Sessions, login counters, user index and carts in this process's memory. */
export function memoryBacking(ttlSeconds: number, sweepIntervalMs: number, guard: RaceGuard): Backing {
  const race = { ended: new Expiring<true>(), carts: new Expiring<string[]>() };
  const store = new GuardedMemoryStore(new MemorySessionStore(ttlSeconds, sweepIntervalMs), guard, race, ttlSeconds);
  const attempts = new MemoryAttemptCounter(sweepIntervalMs);
  return {
    store,
    attempts,
    users: new MemoryUserIndex(),
    carts: new MemoryCarts(race),
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
