import type { RedisConnection } from './redis-connection.js';

/**
 * A Lua script as a command of the connection's client: ioredis sends EVALSHA (the script's
 * hash, not its text) and falls back to EVAL once when Redis does not know it yet. On the
 * request path that saves sending and hashing the script on every call.
 */
export function redisScript(connection: RedisConnection, name: string, numberOfKeys: number, lua: string) {
  connection.client.defineCommand(name, { numberOfKeys, lua });
  const command = (connection.client as unknown as Record<string, (...args: (string | number)[]) => Promise<unknown>>)[name]!;
  return (...args: (string | number)[]): Promise<unknown> => connection.run(command.apply(connection.client, args));
}
