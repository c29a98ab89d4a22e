import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, inject } from 'vitest';
import { RedisConnection } from '../../services/stores/redis-connection.js';

/**
 * For a describe block that tests a Redis-backed piece against the suite's real redis-server:
 * the connection the piece uses, and a plain client to look at the keys it wrote. Opened before
 * the block's tests, closed after them.
 */
export function realRedis(): { readonly connection: RedisConnection; readonly redis: Redis } {
  const opened: { connection?: RedisConnection; redis?: Redis } = {};
  beforeAll(async () => {
    opened.connection = new RedisConnection({ url: inject('redisUrl') });
    opened.redis = new Redis(inject('redisUrl'));
    expect(await opened.connection.whenReady(5000)).toBe(true);
  });
  afterAll(async () => {
    await opened.connection?.close();
    opened.redis?.disconnect();
  });
  return {
    get connection() {
      return opened.connection!;
    },
    get redis() {
      return opened.redis!;
    },
  };
}
