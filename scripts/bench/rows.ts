import { anatomyGroup } from './anatomy.js';
import type { Tracked } from './cpu.js';
import { rssBytes } from './cpu.js';
import type { BenchSettings } from './defaults.js';
import type { BenchRequest } from './load.js';
import { raceGuardGroup } from './race-rows.js';
import { HAPROXY_ROW_MISSING, hasHaproxy } from './haproxy.js';
import { findNginx, NGINX_MISSING } from './nginx.js';
import {
  checkMint,
  cookieMinter,
  loginMany,
  redisUsedMemory,
  sample,
  seedMemory,
  seedRedis,
  sessionIds,
  COOKIE_NAME,
  storedSession,
} from './sessions.js';
import { Stack, type Started } from './stack.js';
import { writeGuardGroup } from './write-guard.js';

/** What a row's load is pointed at, and whose CPU is read meanwhile. */
export interface Target {
  url: string;
  cookies: string[];
  tracked: Tracked[];
  /** What each request is, when not the lookup (GET /profile). */
  request?: BenchRequest;
}

export interface RowSpec {
  name: string;
  title: string;
  /** Starts (or reuses) what the row needs; a string says why the row is skipped. */
  prepare(): Promise<Target | string>;
}

export interface GroupSpec {
  name: string;
  title: string;
  rows: RowSpec[];
  /** Figures taken once the rows are measured (memory per session). */
  finish?(): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

/** The load generator runs in this process: its CPU is read with process.cpuUsage(). */
export const LOAD: Tracked = { name: 'autocannon', pid: null };

export function once<T>(make: () => Promise<T>): () => Promise<T> {
  let made: Promise<T> | undefined;
  return () => (made ??= make());
}

export const track = (...started: Started[]): Tracked[] => [LOAD, ...started.map((s) => ({ name: s.name, pid: s.pid }))];

/** 1000 -> "1k", 1000000 -> "1m": row names a person can type after --only. */
export function scaleLabel(n: number): string {
  if (n >= 1_000_000 && n % 1_000_000 === 0) return `${n / 1_000_000}m`;
  if (n >= 1_000 && n % 1_000 === 0) return `${n / 1_000}k`;
  return String(n);
}

/** 1. One instance hit directly: memory vs Redis, auto-pipelining on/off, rolling on/off. */
function instanceGroup(settings: BenchSettings, profileDir?: string): GroupSpec {
  const stack = new Stack(profileDir);
  const redis = once(() => stack.redis('redis'));
  const redisCookies = once(async () => loginMany((await redisInstance('instance-redis', {})).url, settings.sessions));
  const instances = new Map<string, () => Promise<Started>>();
  const memoryInstance = (name: string, env: Record<string, string>) => {
    if (!instances.has(name)) instances.set(name, once(() => stack.instance(name, { store: 'memory', env })));
    return instances.get(name)!();
  };
  const redisInstance = (name: string, env: Record<string, string>) => {
    if (!instances.has(name)) {
      instances.set(name, once(async () => stack.instance(name, { store: 'redis', redisUrl: (await redis()).url, env })));
    }
    return instances.get(name)!();
  };
  const memoryRow = (name: string, title: string, env: Record<string, string>): RowSpec => ({
    name,
    title,
    async prepare() {
      const instance = await memoryInstance(name, env);
      return { url: instance.url, cookies: await loginMany(instance.url, settings.sessions), tracked: track(instance) };
    },
  });
  // The three Redis instances share one Redis and key prefix: one set of logins serves all.
  const redisRow = (name: string, title: string, env: Record<string, string>): RowSpec => ({
    name,
    title,
    async prepare() {
      const instance = await redisInstance(name, env);
      return { url: instance.url, cookies: await redisCookies(), tracked: track(instance, await redis()) };
    },
  });
  return {
    name: 'instance',
    title: 'One instance, direct',
    rows: [
      memoryRow('instance-memory', 'memory store', {}),
      memoryRow('instance-memory-rolling', 'memory store, rolling: true', { SESSION_ROLLING: 'true' }),
      redisRow('instance-redis', 'Redis store (auto-pipelining)', {}),
      redisRow('instance-redis-nopipe', 'Redis store, no auto-pipelining', { REDIS_AUTOPIPELINING: 'false' }),
      redisRow('instance-redis-rolling', 'Redis store, rolling: true', { SESSION_ROLLING: 'true' }),
    ],
    close: () => stack.close(),
  };
}

/** 2 + 3. The lesson's three modes through the balancer, nginx in front of the same instances, and direct. */
function balancerGroup(settings: BenchSettings, profileDir?: string): GroupSpec {
  const stack = new Stack(profileDir);
  const n = settings.instances;
  const memoryPool = once(async () => Promise.all(Array.from({ length: n }, (_, i) => stack.instance(`mem-${i + 1}`, { store: 'memory' }))));
  const redis = once(() => stack.redis('redis'));
  const redisPool = once(async () => {
    const { url } = await redis();
    return Promise.all(Array.from({ length: n }, (_, i) => stack.instance(`app-${i + 1}`, { store: 'redis', redisUrl: url })));
  });
  const roundRobin = once(async () => stack.balancer('balancer', await memoryPool(), 'round-robin', 'memory'));
  const sticky = once(async () => stack.balancer('balancer', await memoryPool(), 'cookie', 'memory'));
  const redisBalancer = once(async () => stack.balancer('balancer', await redisPool(), 'round-robin', 'redis'));
  // Logins through the sticky balancer land round-robin on the instances, pinned; the
  // round-robin row sends the same wristbands without the pin, as a browser in memory mode would.
  const stickyCookies = once(async () => loginMany((await sticky()).url, settings.sessions));
  const redisCookies = once(async () => loginMany((await redisBalancer()).url, settings.sessions));

  return {
    name: 'balancer',
    title: `Through a proxy, ${n} instances`,
    rows: [
      {
        name: 'memory',
        title: 'balancer, round robin, memory stores (the bug: count the 401s)',
        async prepare() {
          const balancer = await roundRobin();
          const cookies = (await stickyCookies()).map(withoutPin);
          return { url: balancer.url, cookies, tracked: track(balancer, ...(await memoryPool())) };
        },
      },
      {
        name: 'sticky',
        title: 'balancer, cookie affinity, memory stores',
        async prepare() {
          const balancer = await sticky();
          return { url: balancer.url, cookies: await stickyCookies(), tracked: track(balancer, ...(await memoryPool())) };
        },
      },
      {
        name: 'redis',
        title: 'balancer, round robin, shared Redis',
        async prepare() {
          const balancer = await redisBalancer();
          return { url: balancer.url, cookies: await redisCookies(), tracked: track(balancer, ...(await redisPool()), await redis()) };
        },
      },
      ...statelessRows(stack, n, settings, redis),
      {
        name: 'nginx',
        title: 'nginx (1 process, keepalive), round robin, shared Redis',
        async prepare() {
          if (!findNginx()) return NGINX_MISSING;
          const pool = await redisPool();
          const nginx = await stack.nginx('nginx', pool);
          return { url: nginx.url, cookies: await redisCookies(), tracked: track(nginx, ...pool, await redis()) };
        },
      },
      ...haproxyRows(stack, { memoryPool, redisPool, redis, stickyCookies, redisCookies }),
      {
        name: 'direct',
        title: 'no proxy: one of the same Redis instances (the ceiling on 2 cores)',
        async prepare() {
          const [first] = await redisPool();
          return { url: first!.url, cookies: await redisCookies(), tracked: track(first!, await redis()) };
        },
      },
    ],
    close: () => stack.close(),
  };
}

/**
 * 2b. Stateless mode beside the three: the card sealed in the cookie, no logbook (nothing but the
 * instances in the path), and the same with the revocation list in Redis checked on every request.
 */
function statelessRows(stack: Stack, n: number, settings: BenchSettings, redis: () => Promise<Started>): RowSpec[] {
  const row = (name: string, title: string, env: () => Promise<Record<string, string>>, extra: () => Promise<Started[]>): RowSpec => {
    const pool = once(async () => {
      const vars = await env();
      return Promise.all(Array.from({ length: n }, (_, i) => stack.instance(`${name}-${i + 1}`, { store: 'sealed', env: vars })));
    });
    const balancer = once(async () => stack.balancer('balancer', await pool(), 'round-robin', 'sealed'));
    return {
      name,
      title,
      async prepare() {
        const front = await balancer();
        return { url: front.url, cookies: await loginMany(front.url, settings.sessions), tracked: track(front, ...(await pool()), ...(await extra())) };
      },
    };
  };
  return [
    row('stateless', 'balancer, round robin, sealed cookie, no store', async () => ({}), async () => []),
    row(
      'stateless-revocation',
      'balancer, round robin, sealed cookie + revocation list in Redis',
      async () => ({ REVOCATION: 'redis', REDIS_URL: (await redis()).url }),
      async () => [await redis()],
    ),
  ];
}

/** The three modes with HAProxy (the lab's --balancer haproxy configuration) in front of the same instances. */
function haproxyRows(
  stack: Stack,
  shared: { memoryPool: () => Promise<Started[]>; redisPool: () => Promise<Started[]>; redis: () => Promise<Started>; stickyCookies: () => Promise<string[]>; redisCookies: () => Promise<string[]> },
): RowSpec[] {
  const row = (name: string, title: string, routing: 'round-robin' | 'cookie', store: 'memory' | 'redis'): RowSpec => ({
    name,
    title,
    async prepare() {
      if (!hasHaproxy()) return HAPROXY_ROW_MISSING;
      const pool = store === 'memory' ? await shared.memoryPool() : await shared.redisPool();
      const haproxy = await stack.haproxy(name, pool, routing);
      // The sticky logins' pins name the same instances, so HAProxy honours them as the Node balancer does.
      const sticky = await shared.stickyCookies();
      const cookies = store === 'redis' ? await shared.redisCookies() : routing === 'cookie' ? sticky : sticky.map(withoutPin);
      return { url: haproxy.url, cookies, tracked: track(haproxy, ...pool, ...(store === 'redis' ? [await shared.redis()] : [])) };
    },
  });
  return [
    row('haproxy-memory', 'HAProxy, round robin, memory stores (the bug: count the 401s)', 'round-robin', 'memory'),
    row('haproxy-sticky', 'HAProxy, cookie affinity, memory stores', 'cookie', 'memory'),
    row('haproxy-redis', 'HAProxy (1 thread), round robin, shared Redis', 'round-robin', 'redis'),
  ];
}

/** A browser's cookies in memory mode: the session cookie, no pin. */
function withoutPin(cookies: string): string {
  return cookies.split('; ').filter((pair) => pair.startsWith(`${COOKIE_NAME}=`)).join('; ');
}

/** 3b. The proxy in front of a backend that does nothing: its own cost per request. */
function proxyCostGroup(settings: BenchSettings, profileDir?: string): GroupSpec {
  const stack = new Stack(profileDir);
  const backend = once(() => stack.trivial('trivial'));
  // The backend ignores cookies; they are sent anyway so the requests are the same size.
  const minter = cookieMinter(stack.secret);
  const cookies = sessionIds(settings.sessions).map((id) => minter.cookie(id));
  return {
    name: 'proxy-cost',
    title: 'The proxy alone, in front of a trivial backend',
    rows: [
      {
        name: 'trivial-direct',
        title: 'trivial backend, no proxy',
        async prepare() {
          const b = await backend();
          return { url: b.url, cookies, tracked: track(b) };
        },
      },
      {
        name: 'trivial-balancer',
        title: 'balancer in front of the trivial backend',
        async prepare() {
          const b = await backend();
          const balancer = await stack.balancer('balancer', [b], 'round-robin', 'memory');
          return { url: balancer.url, cookies, tracked: track(balancer, b) };
        },
      },
      {
        name: 'trivial-node',
        title: 'a minimal node:http proxy in front of the trivial backend (the floor)',
        async prepare() {
          const b = await backend();
          const proxy = await stack.minimalProxy('node-proxy', [b]);
          return { url: proxy.url, cookies, tracked: track(proxy, b) };
        },
      },
      {
        name: 'trivial-haproxy',
        title: 'HAProxy (1 thread) in front of the trivial backend',
        async prepare() {
          if (!hasHaproxy()) return HAPROXY_ROW_MISSING;
          const b = await backend();
          const haproxy = await stack.haproxy('haproxy', [b], 'round-robin');
          return { url: haproxy.url, cookies, tracked: track(haproxy, b) };
        },
      },
      {
        name: 'trivial-nginx',
        title: 'nginx in front of the trivial backend',
        async prepare() {
          if (!findNginx()) return NGINX_MISSING;
          const b = await backend();
          const nginx = await stack.nginx('nginx', [b]);
          return { url: nginx.url, cookies, tracked: track(nginx, b) };
        },
      },
    ],
    close: () => stack.close(),
  };
}

interface Seeded {
  count: number;
  store: 'memory' | 'redis';
  /** Bytes before seeding: process RSS (memory) or Redis used_memory (redis). */
  before: number;
  measure(): Promise<number | null>;
}

/** 4. Lookups with 1k, 100k, 1M sessions stored, seeded straight into each store. */
function scaleGroup(settings: BenchSettings, profileDir?: string): GroupSpec {
  const stack = new Stack(profileDir);
  const minter = cookieMinter(stack.secret);
  const largest = Math.max(...settings.scale);
  const seeded = new Map<string, Seeded>();
  const ids = once(async () => sessionIds(largest));

  // One real login on a Redis instance: its stored JSON and TTL are the template, and its
  // cookie proves minted cookies have exactly the format @fastify/session sets.
  const template = once(async () => {
    const redis = await stack.redis('redis-template');
    const instance = await stack.instance('template', { store: 'redis', redisUrl: redis.url });
    const [cookie] = await loginMany(instance.url, 1);
    checkMint(minter, cookie!);
    return storedSession(redis.url, stack.keyPrefix + minter.idOf(cookie!));
  });

  const rows: RowSpec[] = [];
  for (const count of settings.scale) {
    const label = scaleLabel(count);
    rows.push({
      name: `memory-${label}`,
      title: `memory store, ${count.toLocaleString('en-US')} sessions stored`,
      async prepare() {
        const { json } = await template();
        const instance = await stack.instance(`mem-${label}`, { store: 'memory' });
        const before = rssBytes(instance.pid) ?? 0;
        const all = await ids();
        await seedMemory(instance.url, stack.controlToken, all.slice(0, count), json);
        seeded.set(`memory-${label}`, { count, store: 'memory', before, measure: async () => rssBytes(instance.pid) });
        const cookies = sample(all, settings.sessions, count).map((id) => minter.cookie(id));
        return { url: instance.url, cookies, tracked: track(instance) };
      },
    });
    rows.push({
      name: `redis-${label}`,
      title: `Redis store, ${count.toLocaleString('en-US')} sessions stored`,
      async prepare() {
        const { json, ttl } = await template();
        // A redis-server per size, so used_memory counts these sessions and nothing else.
        const redis = await stack.redis(`redis-${label}`);
        const before = await redisUsedMemory(redis.url);
        const all = await ids();
        await seedRedis(redis.url, stack.keyPrefix, all.slice(0, count), json, ttl);
        const instance = await stack.instance(`app-${label}`, { store: 'redis', redisUrl: redis.url });
        seeded.set(`redis-${label}`, { count, store: 'redis', before, measure: () => redisUsedMemory(redis.url) });
        const cookies = sample(all, settings.sessions, count).map((id) => minter.cookie(id));
        return { url: instance.url, cookies, tracked: track(instance, redis) };
      },
    });
  }

  return {
    name: 'scale',
    title: 'Store at scale: sessions stored',
    rows,
    async finish() {
      const memory: Record<string, unknown> = {};
      for (const [row, s] of seeded) {
        const after = await s.measure();
        memory[row] = {
          sessions: s.count,
          measuredAs: s.store === 'memory' ? 'instance process RSS' : 'Redis used_memory',
          bytesBefore: s.before,
          bytesAfter: after,
          bytesPerSession: after === null ? null : Math.round((after - s.before) / s.count),
        };
      }
      return { memoryPerSession: memory };
    },
    close: () => stack.close(),
  };
}

/** The matrix; with profileDir every Node process it starts writes a CPU profile there. */
export function benchGroups(settings: BenchSettings, profileDir?: string): GroupSpec[] {
  return [instanceGroup, balancerGroup, proxyCostGroup, scaleGroup, raceGuardGroup, writeGuardGroup, anatomyGroup].map((group) => group(settings, profileDir));
}
