import { randomBytes } from 'node:crypto';
import type { Session } from 'fastify';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { StoreUnavailableError } from '../services/vocabulary.js';
import { MemorySessionStore } from '../services/stores/memory.js';
import { RedisSessionStore } from '../services/stores/redis.js';
import { freePort } from '../scripts/lib/free-port.js';

const session = (expiresInMs: number, user = 'testuser') =>
  ({ cookie: { originalMaxAge: expiresInMs, expires: new Date(Date.now() + expiresInMs) }, user: { username: user, displayName: user } }) as unknown as Session;

const call = <T>(fn: (cb: (err: unknown, value?: T) => void) => void) =>
  new Promise<T | undefined>((resolve, reject) => fn((err, value) => (err ? reject(err) : resolve(value))));

describe('memory store', () => {
  it('keeps a serialized copy, not the live object', async () => {
    const store = new MemorySessionStore(60);
    const original = session(60_000);
    await call((cb) => store.set('a', original, cb));
    (original as unknown as { user: { username: string } }).user.username = 'changed';
    const loaded = (await call<Session | null>((cb) => store.get('a', cb))) as unknown as { user: { username: string } };
    expect(loaded.user.username).toBe('testuser');
    await store.close();
  });

  it('forgets a session when its cookie expires, and the sweeper drops ones nobody asks for', async () => {
    const store = new MemorySessionStore(60);
    await call((cb) => store.set('short', session(1_000), cb));
    await call((cb) => store.set('long', session(60_000), cb));
    expect(await store.size()).toBe(2);
    expect(store.sweep(Date.now() + 2_000)).toBe(1);
    expect(await store.size()).toBe(1);
    expect(await call((cb) => store.get('long', cb))).toBeTruthy();
    await store.close();
  });

  it('destroys', async () => {
    const store = new MemorySessionStore(60);
    await call((cb) => store.set('a', session(60_000), cb));
    await call((cb) => store.destroy('a', cb));
    expect(await call((cb) => store.get('a', cb))).toBeNull();
    await store.close();
  });
});

describe('redis store (real redis-server)', () => {
  const prefix = `test:${randomBytes(4).toString('hex')}:`;
  let store: RedisSessionStore;
  let redis: Redis;
  beforeAll(async () => {
    store = new RedisSessionStore({ url: inject('redisUrl'), keyPrefix: prefix, defaultTtlSeconds: 60 });
    redis = new Redis(inject('redisUrl'));
    await new Promise((r) => store.connection.client.once('ready', r));
  });
  afterAll(async () => {
    await store.close();
    redis.disconnect();
  });

  it('stores JSON under the prefix with a TTL that never outlives the cookie', async () => {
    await call((cb) => store.set('abc', session(30_000), cb));
    const ttl = await redis.ttl(`${prefix}abc`);
    expect(ttl).toBeGreaterThan(25);
    expect(ttl).toBeLessThanOrEqual(30);
    expect(JSON.parse((await redis.get(`${prefix}abc`))!).user.username).toBe('testuser');
    const loaded = (await call<Session | null>((cb) => store.get('abc', cb))) as unknown as { user: { username: string } };
    expect(loaded.user.username).toBe('testuser');
  });

  it('reports itself ready once connected', async () => {
    expect(await store.whenReady(1000)).toBe(true);
  });

  it('answers null for an unknown session and deletes on destroy', async () => {
    expect(await call((cb) => store.get('nope', cb))).toBeNull();
    await call((cb) => store.set('gone', session(30_000), cb));
    await call((cb) => store.destroy('gone', cb));
    expect(await redis.exists(`${prefix}gone`)).toBe(0);
  });

  it('fails fast with StoreUnavailableError, never "no session", when Redis is unreachable', async () => {
    const dead = new RedisSessionStore({ url: `redis://127.0.0.1:${await freePort()}`, keyPrefix: prefix, defaultTtlSeconds: 60 });
    const started = Date.now();
    const error = await call((cb) => dead.get('abc', cb)).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(await dead.ping()).toBe(false);
    // An instance waits for this before it listens; with Redis away it gives up and starts anyway.
    expect(await dead.whenReady(200)).toBe(false);
    await dead.close();
  });
});
