import { randomBytes } from 'node:crypto';
import fastifyCookie from '@fastify/cookie';
import { Redis } from 'ioredis';
import { controlClient } from '../../proxy/clients/control-client.js';
import { DEMO_CREDENTIALS } from '../simulate/accounts.js';

export const COOKIE_NAME = 'sid';

/** Logs in once through `url`; returns the Cookie header a browser would send next (sid, and the balancer's pin if any). */
export async function login(url: string, account = 0): Promise<string> {
  // Logins rotate through the lab's demo accounts.
  const { username, password } = DEMO_CREDENTIALS[account % DEMO_CREDENTIALS.length]!;
  const response = await fetch(`${url}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  if (!response.ok) throw new Error(`login through ${url} failed: HTTP ${response.status} ${await response.text()}`);
  const pairs = response.headers.getSetCookie().map((line) => line.split(';')[0]!.trim());
  if (!pairs.some((p) => p.startsWith(`${COOKIE_NAME}=`))) throw new Error(`login through ${url} set no ${COOKIE_NAME} cookie`);
  return pairs.join('; ');
}

/** `count` real logins (scrypt and all), a few at a time: the cookies the load rotates through. */
export async function loginMany(url: string, count: number, parallel = 4): Promise<string[]> {
  const cookies: string[] = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      cookies[i] = await login(url, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, count) }, worker));
  return cookies;
}

/** Just the session cookie's value (what the store key is derived from), from a Cookie header. */
export function sidOf(cookieHeader: string): string {
  const pair = cookieHeader.split(';').map((p) => p.trim()).find((p) => p.startsWith(`${COOKIE_NAME}=`));
  if (!pair) throw new Error(`no ${COOKIE_NAME} in "${cookieHeader}"`);
  return decodeURIComponent(pair.slice(COOKIE_NAME.length + 1));
}

/**
 * Cookies for sessions the bench wrote into a store itself: signed as @fastify/session
 * signs them (@fastify/cookie's Signer, the instances' secret), written as
 * Set-Cookie sends them. checkMint() proves the format against a real login.
 */
export function cookieMinter(secret: string): { cookie(id: string): string; idOf(cookieHeader: string): string } {
  const signer = fastifyCookie.signerFactory(secret);
  return {
    // Raw, as the Set-Cookie header sends it: base64 and '.' are all valid cookie characters.
    cookie: (id) => `${COOKIE_NAME}=${signer.sign(id)}`,
    idOf(cookieHeader) {
      const result = signer.unsign(sidOf(cookieHeader));
      if (!result.valid || result.value === null) throw new Error('a session cookie from a real login did not verify with the bench secret');
      return result.value;
    },
  };
}

/** Fails loudly if minted cookies would differ from the ones a real login sets. */
export function checkMint(minter: ReturnType<typeof cookieMinter>, realCookieHeader: string): void {
  const id = minter.idOf(realCookieHeader);
  const real = realCookieHeader.split(';').map((p) => p.trim()).find((p) => p.startsWith(`${COOKIE_NAME}=`));
  if (minter.cookie(id) !== real) throw new Error(`minted cookie ${minter.cookie(id)} differs from the real one ${real}`);
}

/** Session ids shaped like @fastify/session's own: 24 random bytes, base64url (32 characters). */
export function sessionIds(count: number): string[] {
  const bytes = randomBytes(count * 24);
  const ids: string[] = new Array(count);
  for (let i = 0; i < count; i++) ids[i] = bytes.subarray(i * 24, (i + 1) * 24).toString('base64url');
  return ids;
}

/** `count` ids picked at random from the whole seeded range, so lookups touch the whole store. */
export function sample<T>(items: readonly T[], count: number, limit = items.length): T[] {
  const picked: T[] = [];
  for (let i = 0; i < count; i++) picked.push(items[Math.floor(Math.random() * limit)]!);
  return picked;
}

/** The exact JSON a real login stored in Redis under its key: the template for seeded sessions. */
export async function storedSession(redisUrl: string, key: string): Promise<{ json: string; ttl: number }> {
  const redis = new Redis(redisUrl, { lazyConnect: true });
  try {
    await redis.connect();
    const [json, ttl] = await Promise.all([redis.get(key), redis.ttl(key)]);
    if (json === null) throw new Error(`no session stored under ${key}`);
    return { json, ttl };
  } finally {
    redis.disconnect();
  }
}

/** Writes sessions straight into Redis, key and value exactly as services/stores/redis.ts writes them. */
export async function seedRedis(redisUrl: string, prefix: string, ids: readonly string[], json: string, ttl: number): Promise<void> {
  const redis = new Redis(redisUrl, { lazyConnect: true });
  try {
    await redis.connect();
    const batch = 10_000;
    for (let start = 0; start < ids.length; start += batch) {
      const pipeline = redis.pipeline();
      for (const id of ids.slice(start, start + batch)) pipeline.set(prefix + id, json, 'EX', ttl);
      await pipeline.exec();
    }
  } finally {
    redis.disconnect();
  }
}

/** Fills an instance's memory store through its /_control/seed route (CONTROL_TOKEN). */
export async function seedMemory(instanceUrl: string, controlToken: string, ids: readonly string[], json: string): Promise<void> {
  const batch = 50_000;
  const session = JSON.parse(json) as object;
  const control = controlClient(controlToken);
  for (let start = 0; start < ids.length; start += batch) {
    await control.seed(instanceUrl, ids.slice(start, start + batch), session).catch((err: Error) => {
      throw new Error(`seeding ${instanceUrl} failed: ${err.message}`);
    });
  }
}

/** Redis's own count of the memory its data uses (INFO memory, used_memory). */
export async function redisUsedMemory(redisUrl: string): Promise<number> {
  const redis = new Redis(redisUrl, { lazyConnect: true });
  try {
    await redis.connect();
    const info = await redis.info('memory');
    const match = /^used_memory:(\d+)/m.exec(info);
    if (!match) throw new Error('INFO memory has no used_memory');
    return Number(match[1]);
  } finally {
    redis.disconnect();
  }
}
