import type { Redis } from 'ioredis';
import type { RedisConnection } from './redis-connection.js';

type ScriptCall = (...args: (string | number)[]) => Promise<unknown>;

/**
 * A Lua script called by its digest (EVALSHA) instead of its text (EVAL): Redis then neither
 * receives nor hashes the text on every call. A Redis that restarted or failed over starts with
 * an empty script cache: ioredis answers its NOSCRIPT with one EVAL, which loads the script again.
 */
export function redisScript(client: Redis, name: string, lua: string, numberOfKeys: number): ScriptCall {
  client.defineCommand(name, { numberOfKeys, lua });
  const command = (client as unknown as Record<string, ScriptCall>)[name]!;
  return (...args) => command.apply(client, args);
}

/** The same, on the request path: under the connection's deadline and fail-fast 503 (RedisConnection.run). */
export function connectionScript(connection: RedisConnection, name: string, lua: string, numberOfKeys: number): ScriptCall {
  const call = redisScript(connection.client, name, lua, numberOfKeys);
  return (...args) => connection.run(call(...args));
}
