import type { RedisConnection } from '../stores/redis-connection.js';
import { redisScript } from '../stores/redis-script.js';
import type { AttemptCount, AttemptCounter } from './types.js';

// Only an existing counter is decremented: a DECR on a key whose window just ended would
// create it again, at -1 and without a TTL, and it would never expire.
const UNDO = `if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('DECR', KEYS[1]) end return 0`;

/**
 * Counters in Redis, shared by every instance, so a round robin does not multiply the
 * attempts an attacker gets. One MULTI per login: SET NX opens the window with its TTL,
 * INCR counts, PTTL says when the window ends.
 */
export class RedisAttemptCounter implements AttemptCounter {
  private readonly undoScript;

  constructor(
    private readonly connection: RedisConnection,
    private readonly prefix: string,
  ) {
    this.undoScript = redisScript(connection.client, 'coatcheckAttemptUndo', UNDO, 1);
  }

  private key(key: string): string {
    return `${this.prefix}fail:${key}`;
  }

  async add(keys: readonly string[], windowSeconds: number): Promise<AttemptCount[]> {
    const multi = this.connection.client.multi();
    for (const key of keys) multi.set(this.key(key), '0', 'EX', windowSeconds, 'NX').incr(this.key(key)).pttl(this.key(key));
    const replies = await this.connection.transaction(multi);
    return keys.map((_, i) => ({
      count: Number(replies[i * 3 + 1]),
      resetInSeconds: Math.max(1, Math.ceil(Number(replies[i * 3 + 2]) / 1000)),
    }));
  }

  async undo(key: string): Promise<void> {
    await this.connection.run(this.undoScript(this.key(key)));
  }

  async clear(key: string): Promise<void> {
    await this.connection.run(this.connection.client.del(this.key(key)));
  }
}
