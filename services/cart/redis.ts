import type { RedisConnection } from '../stores/redis-connection.js';
import { cartKey, endedKey } from '../stores/race-guard.js';
import { connectionScript } from '../stores/redis-script.js';
import type { SessionCarts } from './types.js';

// One JSON array per session, changed in Redis. The tombstone check and the change are one
// script, so a logout cannot slip between them: an add either lands before the logout (which
// then deletes the cart) or sees the tombstone and writes nothing. A JSON string rather than a
// list: the session lookup reads it with the session in one MGET, and parses it as fast as the
// session itself. (Never empty once written, so cjson's "empty table is {}" cannot bite.)
const ADD = `
if redis.call('EXISTS', KEYS[2]) == 1 then return false end
local raw = redis.call('GET', KEYS[1])
local cart = raw and cjson.decode(raw) or {}
table.insert(cart, ARGV[1])
while #cart > tonumber(ARGV[2]) do table.remove(cart, 1) end
local json = cjson.encode(cart)
redis.call('SET', KEYS[1], json, 'EX', ARGV[3])
return json`;

/** The carts in the shared Redis, changed by one atomic script: every instance adds to the same cart. */
export class RedisCarts implements SessionCarts {
  private readonly addScript: (...args: (string | number)[]) => Promise<unknown>;

  constructor(
    connection: RedisConnection,
    private readonly metaPrefix: string,
  ) {
    this.addScript = connectionScript(connection, 'coatcheckCartAdd', ADD, 2);
  }

  async add(sessionId: string, item: string, limit: number, ttlSeconds: number): Promise<string[] | null> {
    const json = await this.addScript(cartKey(this.metaPrefix, sessionId), endedKey(this.metaPrefix, sessionId), item, limit, ttlSeconds);
    return typeof json === 'string' ? (JSON.parse(json) as string[]) : null;
  }
}
