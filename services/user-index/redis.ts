import type { RedisConnection } from '../stores/redis-connection.js';
import type { UserIndex } from './types.js';

// One sorted set per user: session id -> expiry (ms). In one step: note the session, drop the
// ones already expired, and let the set live exactly as long as its longest-lived session.
// (A plain EXPIRE with this session's TTL would cut short a sibling written later.)
const ADD = `
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], last[2])
return 1`;

/** The index in the shared Redis: every instance sees every session of a user. */
export class RedisUserIndex implements UserIndex {
  constructor(
    private readonly connection: RedisConnection,
    private readonly prefix: string,
  ) {}

  private key(username: string): string {
    return `${this.prefix}user:${username}`;
  }

  async add(username: string, sessionId: string, ttlSeconds: number): Promise<void> {
    const now = Date.now();
    await this.connection.run(this.connection.client.eval(ADD, 1, this.key(username), now + ttlSeconds * 1000, sessionId, now));
  }

  async take(username: string): Promise<string[]> {
    const key = this.key(username);
    const multi = this.connection.client.multi().zrangebyscore(key, Date.now(), '+inf').del(key);
    const [ids] = await this.connection.transaction(multi);
    return ids as string[];
  }
}
