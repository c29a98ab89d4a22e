import 'vitest';
import type { TestProject } from 'vitest/node';
import { REDIS_MISSING, hasRedisServer, startRedisServer, type RedisServer } from '../scripts/lib/redis-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

let redis: RedisServer | undefined;

/**
 * One real redis-server for the whole suite, on a free port (never 6379, which
 * another program may hold), or the one REDIS_URL names. No Redis: the suite
 * fails here, with what to install. It does not skip.
 */
export async function setup(project: TestProject): Promise<void> {
  let url = process.env.REDIS_URL;
  if (!url) {
    if (!hasRedisServer()) throw new Error(`The test suite needs Redis. ${REDIS_MISSING}`);
    redis = await startRedisServer();
    url = redis.url;
  }
  project.provide('redisUrl', url);
}

export async function teardown(): Promise<void> {
  await redis?.stop();
}
