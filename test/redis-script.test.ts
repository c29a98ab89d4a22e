import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisServer, type RedisServer } from '../scripts/lib/redis-server.js';
import { RedisConnection } from '../services/stores/redis-connection.js';
import { RedisAttemptCounter } from '../services/throttle/redis.js';
import { RedisUserIndex } from '../services/user-index/redis.js';

// A redis-server of its own: SCRIPT FLUSH here must not surprise another file's tests.
describe('Lua scripts go by digest (EVALSHA), and survive an emptied script cache', () => {
  let server: RedisServer;
  let connection: RedisConnection;
  let inspect: Redis;
  const prefix = `meta:test:${randomBytes(4).toString('hex')}:`;

  beforeAll(async () => {
    server = await startRedisServer();
    connection = new RedisConnection({ url: server.url });
    inspect = new Redis(server.url);
    expect(await connection.whenReady(5000)).toBe(true);
  }, 30_000);
  afterAll(async () => {
    await connection?.close();
    inspect?.disconnect();
    await server?.stop();
  });

  const calls = async (command: 'eval' | 'evalsha') => {
    const stats = await inspect.info('commandstats');
    return Number(new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(stats)?.[1] ?? 0);
  };

  it('sends the script text once, then only its digest', async () => {
    const index = new RedisUserIndex(connection, prefix);
    const counter = new RedisAttemptCounter(connection, prefix);
    await inspect.config('RESETSTAT');
    for (let i = 0; i < 5; i++) await index.add('alice', `session-${i}`, 60);
    await counter.add(['k'], 60);
    for (let i = 0; i < 3; i++) await counter.undo('k');
    // The first call of each script misses the cache (NOSCRIPT, a rejected call) and loads it
    // with one EVAL; the other 6 of the 8 calls run from the cache.
    expect(await calls('eval')).toBe(2);
    expect(await calls('evalsha')).toBe(6);
    expect(await inspect.zcard(`${prefix}user:alice`)).toBe(5);
  });

  it('after SCRIPT FLUSH (a restarted or failed-over Redis), the next call loads the script again', async () => {
    const index = new RedisUserIndex(connection, prefix);
    await inspect.script('FLUSH');
    expect(await index.add('bob', 'session-a', 60)).toEqual([]);
    expect(await index.add('bob', 'session-b', 60, 1)).toEqual(['session-a']);
    expect(await inspect.zrange(`${prefix}user:bob`, '0', '-1')).toEqual(['session-b']);
  });
});
