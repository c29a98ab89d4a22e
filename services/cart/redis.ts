import type { RedisConnection } from '../stores/redis-connection.js';
import { cartKey, endedKey } from '../stores/race-guard.js';
import type { SessionCarts } from './types.js';

// One Redis list per session. The tombstone check and the push are one script, so a logout
// cannot slip between them: a cart add either lands before the logout (which then deletes it)
// or sees the tombstone and writes nothing.
const ADD = `
if redis.call('EXISTS', KEYS[2]) == 1 then return false end
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[2]), -1)
redis.call('EXPIRE', KEYS[1], ARGV[3])
return redis.call('LRANGE', KEYS[1], 0, -1)`;

/** The carts in the shared Redis, changed by atomic scripts: every instance adds to the same list. */
export class RedisCarts implements SessionCarts {
  constructor(
    private readonly connection: RedisConnection,
    private readonly metaPrefix: string,
  ) {}

  async add(sessionId: string, item: string, limit: number, ttlSeconds: number): Promise<string[] | null> {
    const keys = [cartKey(this.metaPrefix, sessionId), endedKey(this.metaPrefix, sessionId)];
    const cart = await this.connection.run(this.connection.client.eval(ADD, 2, ...keys, item, limit, ttlSeconds));
    return (cart as string[] | null) ?? null;
  }
}
