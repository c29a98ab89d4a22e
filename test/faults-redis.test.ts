import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Lab } from '../scripts/lab.js';
import { startRedisServer, type RedisServer } from '../scripts/lib/redis-server.js';
import { Client } from './helpers/http.js';
import { waitFor, startTestLab } from './helpers/lab.js';

/** Every logged-in user asks for the profile once; what each one saw, and how long it took. */
async function everyone(users: Client[]) {
  return Promise.all(
    users.map(async (u) => {
      const cookie = u.jar.get('sid');
      const t = Date.now();
      const r = await u.profile();
      return { status: r.status, ms: Date.now() - t, retryAfter: r.headers.get('retry-after'), setCookie: r.headers.getSetCookie(), error: r.json.error, cookieKept: u.jar.get('sid') === cookie };
    }),
  );
}

// Destructive: this file stops, pauses and restarts Redis, so it runs its own (append-only), never the suite's.
describe('the shared logbook fails: Redis paused, stopped and restarted (append-only persistence)', () => {
  let redis: RedisServer;
  let lab: Lab;
  let users: Client[];
  beforeAll(async () => {
    redis = await startRedisServer({ appendOnly: true });
    lab = await startTestLab({ mode: 'redis', instances: 2, redisUrl: redis.url });
    users = Array.from({ length: 6 }, () => new Client(lab.url));
    for (const u of users) expect((await u.login()).status).toBe(200);
  });
  afterAll(async () => {
    await lab?.close();
    await redis?.stop();
  });

  it('paused (CLIENT PAUSE): a 503 with Retry-After in well under a second, cookies kept, back by itself', async () => {
    const admin = new Redis(redis.url);
    try {
      // Long enough that every request below is sent inside it, however busy the machine:
      // a request sent after the pause would get a 200 (a pause cannot be lifted early: UNPAUSE waits too).
      await admin.call('CLIENT', 'PAUSE', '5000', 'ALL');
      const during = await everyone(users);
      for (const seen of during) {
        expect(seen.status).toBe(503);
        expect(seen.error).toBe('store_unavailable');
        expect(seen.retryAfter).toBe('1');
        expect(seen.setCookie).toEqual([]);
        expect(seen.cookieKept).toBe(true);
        expect(seen.ms).toBeLessThan(1000);
      }
    } finally {
      admin.disconnect();
    }
    await waitFor(async () => (await users[0]!.profile()).status === 200, 'the pause to end', 15_000);
    expect((await everyone(users)).map((s) => s.status)).toEqual(users.map(() => 200));
  });

  it('stopped: fast 503s for reads and logins; restarted: every session is back (appendonly), with no new login', async () => {
    await redis.stop({ keepData: true });
    const during = await everyone(users);
    for (const seen of during) {
      expect(seen.status).toBe(503);
      expect(seen.setCookie).toEqual([]);
      expect(seen.ms).toBeLessThan(1000);
    }
    const login = await new Client(lab.url).login();
    expect(login.status).toBe(503);
    expect(login.headers.get('retry-after')).toBe('1');

    redis = await redis.restart();
    // Each instance reconnects on its own back-off (at most 1 s apart): wait for both.
    await waitFor(async () => (await everyone(users)).every((s) => s.status === 200), 'both instances to reconnect to Redis');
    const after = await everyone(users);
    expect(after.map((s) => s.status)).toEqual(users.map(() => 200));
    expect(after.every((s) => s.cookieKept)).toBe(true);
    // Both instances reconnected, not just one.
    const servedBy = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const r = await users[0]!.profile();
      expect(r.status).toBe(200);
      servedBy.add(r.servedBy!);
    }
    expect(servedBy.size).toBe(2);
    expect(lab.instances.every((i) => i.child.exitCode === null)).toBe(true);
  });
});
