import { NoLogbook } from '../sealed/no-logbook.js';
import type { RevocationList } from '../sealed/revocation.js';
import { MemoryAttemptCounter } from '../throttle/memory.js';
import { RedisAttemptCounter } from '../throttle/redis.js';
import { MemoryUserIndex } from '../user-index/memory.js';
import { RedisUserIndex } from '../user-index/redis.js';
import { MemorySessionStore } from './memory.js';
import { metaPrefix, RedisSessionStore, type RedisStoreOptions } from './redis.js';
import type { Backing } from './switchable.js';
import type { SessionStore } from './types.js';

/** Sessions, login counters and user index in this process's memory. */
export function memoryBacking(ttlSeconds: number, sweepIntervalMs: number): Backing {
  return withLocalCounters(new MemorySessionStore(ttlSeconds, sweepIntervalMs), sweepIntervalMs);
}

/** A store with login counters and user index in this process's memory beside it. */
function withLocalCounters(store: SessionStore, sweepIntervalMs: number): Backing {
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

/** All three in Redis, over the session store's one connection. */
export function redisBacking(options: RedisStoreOptions): Backing {
  const store = new RedisSessionStore(options);
  const meta = metaPrefix(options.keyPrefix);
  return {
    store,
    attempts: new RedisAttemptCounter(store.connection, meta),
    users: new RedisUserIndex(store.connection, meta),
    close: () => store.close(),
  };
}

/**
 * Stateless mode: no sessions to keep. Login counters stay in this process (each instance
 * counts on its own, as in memory mode); the user index is never used (a card is not listed).
 */
export function sealedBacking(revocation: RevocationList, sweepIntervalMs: number): Backing {
  return withLocalCounters(new NoLogbook(revocation), sweepIntervalMs);
}
