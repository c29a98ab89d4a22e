import type { RedisConnection } from '../stores/redis-connection.js';
import { redisScript } from '../stores/redis-script.js';
import type { UserIndex } from './types.js';

// One sorted set per user: session id -> expiry (ms). In one step: note the session, drop the
// ones already expired, and let the set live exactly as long as its longest-lived session.
// (A plain EXPIRE with this session's TTL would cut short a sibling written later.) Beyond the cap
// (ARGV[4]), the sessions due to expire first leave the set and are returned, for the caller to end.
const ADD = `
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], last[2])
local over = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[4])
if over <= 0 then return {} end
local evicted = redis.call('ZRANGE', KEYS[1], 0, over - 1)
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, over - 1)
return evicted`;

/** The index in the shared Redis: every instance sees every session of a user. */
export class RedisUserIndex implements UserIndex {
  private readonly addScript;

  constructor(
    private readonly connection: RedisConnection,
    private readonly prefix: string,
  ) {
    this.addScript = redisScript(connection.client, 'coatcheckUserIndexAdd', ADD, 1);
  }

  private key(username: string): string {
    return `${this.prefix}user:${username}`;
  }

  async add(username: string, sessionId: string, ttlSeconds: number, maxSessions = Infinity): Promise<string[]> {
    const now = Date.now();
    // Redis has no infinity in ARGV: a cap above any real count does the same.
    const cap = Number.isFinite(maxSessions) ? maxSessions : Number.MAX_SAFE_INTEGER;
    const evicted = await this.connection.run(this.addScript(this.key(username), now + ttlSeconds * 1000, sessionId, now, cap));
    return evicted as string[];
  }

  async take(username: string): Promise<string[]> {
    const key = this.key(username);
    const multi = this.connection.client.multi().zrangebyscore(key, Date.now(), '+inf').del(key);
    const [ids] = await this.connection.transaction(multi);
    return ids as string[];
  }
}
