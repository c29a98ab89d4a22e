import { anatomy, anatomySvg, anatomyText, PROCESS } from './anatomy-layers.js';
import type { BenchSettings } from './defaults.js';
import { project, TARGET_UTILISATION, type MeasuredCosts } from './projection.js';
import { captureMixes, measureCapacity, type CapacityResult } from './redis-capacity.js';
import type { GroupSpec, RowSpec, Target } from './rows.js';
import { LOAD } from './rows.js';
import type { BenchResults } from './run.js';
import { cookieMinter, loginMany, sessionIds, storedSession } from './sessions.js';
import { Stack, type Started } from './stack.js';

function once<T>(make: () => Promise<T>): (() => Promise<T>) & { made: boolean } {
  let made: Promise<T> | undefined;
  const get = () => {
    get.made = true;
    return (made ??= make());
  };
  get.made = false;
  return get;
}

const target = (url: string, cookies: string[], ...started: Started[]): Target => ({
  url,
  cookies,
  tracked: [LOAD, ...started.map((s) => ({ name: s.name, pid: s.pid }))],
});

/** Requests of one mix written at once on each connection of the Redis-only load. */
export const CAPACITY_PIPELINE = 16;

/**
 * 5. What one lookup costs, layer by layer: Fastify alone, + cookie, + @fastify/session over a
 * Map, the lab instance (memory store), the lab instance (Redis), the balancer in front of it.
 * Then, on the same Redis, the Redis-only load: how many of each lab request one Redis core serves.
 */
export function anatomyGroup(settings: BenchSettings, profileDir?: string): GroupSpec {
  const stack = new Stack(profileDir);
  const minter = cookieMinter(stack.secret);
  const minted = sessionIds(settings.sessions).map((id) => minter.cookie(id));
  const app = (layer: 'bare' | 'cookie' | 'session') => once(() => stack.anatomyApp(PROCESS[layer], layer));
  const apps = { bare: app('bare'), cookie: app('cookie'), session: app('session') };
  const memory = once(() => stack.instance(PROCESS.memory, { store: 'memory' }));
  const redis = once(() => stack.redis(PROCESS.server));
  const labRedis = once(async () => stack.instance(PROCESS.redis, { store: 'redis', redisUrl: (await redis()).url }));
  const redisCookies = once(async () => loginMany((await labRedis()).url, settings.sessions));

  const rows: RowSpec[] = [
    {
      name: 'anatomy-bare',
      title: 'Fastify alone, the same JSON body',
      async prepare() {
        const bare = await apps.bare();
        return target(bare.url, minted, bare);
      },
    },
    {
      name: 'anatomy-cookie',
      title: '+ @fastify/cookie: parse and unsign the wristband',
      async prepare() {
        const cookie = await apps.cookie();
        return target(cookie.url, minted, cookie);
      },
    },
    {
      name: 'anatomy-session',
      title: '+ @fastify/session over a plain Map',
      async prepare() {
        const session = await apps.session();
        return target(session.url, await loginMany(session.url, settings.sessions), session);
      },
    },
    {
      name: 'anatomy-memory',
      title: 'the lab instance, memory store',
      async prepare() {
        const instance = await memory();
        return target(instance.url, await loginMany(instance.url, settings.sessions), instance);
      },
    },
    {
      name: 'anatomy-redis',
      title: 'the lab instance, Redis store',
      async prepare() {
        const instance = await labRedis();
        return target(instance.url, await redisCookies(), instance, await redis());
      },
    },
    {
      name: 'anatomy-balancer',
      title: 'the balancer in front of the Redis instance',
      async prepare() {
        const instance = await labRedis();
        const balancer = await stack.balancer(PROCESS.proxy, [instance], 'round-robin', 'redis');
        return target(balancer.url, await redisCookies(), balancer, instance, await redis());
      },
    },
  ];

  return {
    name: 'anatomy',
    title: 'Anatomy of one lookup, one instance direct',
    rows,
    // The Redis-only load needs the lab's Redis instance: it runs only when that row did.
    async finish() {
      if (!labRedis.made) return {};
      const server = await redis();
      const instance = await labRedis();
      const rolling = await stack.instance('lab-rolling', { store: 'redis', redisUrl: server.url, env: { SESSION_ROLLING: 'true' } });
      const mixes = await captureMixes({ redisUrl: server.url, instanceUrl: instance.url, rollingUrl: rolling.url, idOf: minter.idOf });
      const [cookie] = await redisCookies();
      const { json, ttl } = await storedSession(server.url, stack.keyPrefix + minter.idOf(cookie!));
      const { results: redisCapacity, bytesPerSession } = await measureCapacity(mixes, {
        redisUrl: server.url,
        redisPid: server.pid,
        keyPrefix: stack.keyPrefix,
        sessionJson: json,
        ttlSeconds: ttl,
        // Enough for the logout run to last longer than /proc's 10 ms CPU ticks, even in --quick.
        sessions: Math.max(20_000, Math.min(200_000, Math.max(...settings.scale) / 5)),
        connections: settings.connections,
        pipeline: CAPACITY_PIPELINE,
        durationSec: settings.durationSec,
        warmupSec: settings.warmupSec,
      });
      return { commandMixes: mixes, redisCapacity, redisBytesPerSession: bytesPerSession };
    },
    close: () => stack.close(),
  };
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

/** The Redis-only load as text, beside what one instance core serves. */
export function capacityText(results: CapacityResult[], perInstanceCore: number | null, connections: number): string {
  const head = ['mix', 'commands', 'requests/s', 'redis core', 'redis µs/request', 'per Redis core/s', 'client core', 'instance cores one Redis core feeds'];
  const rows = results.map((r) => [
    r.mix,
    String(r.commandsPerRequest),
    fmt(r.requestsPerSec),
    `${Math.round(r.redisShare * 100)}%${r.saturated ? ' (bound)' : ''}`,
    r.redisUsPerRequest.toFixed(1),
    fmt(r.requestsPerRedisCore),
    `${Math.round(r.clientShare * 100)}%`,
    r.mix === 'lookup' && perInstanceCore ? (r.requestsPerRedisCore / perInstanceCore).toFixed(1) : '',
  ]);
  const widths = head.map((_, c) => Math.max(...[head, ...rows].map((row) => row[c]!.length)));
  const line = (row: string[]) => `  ${row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ')}`.trimEnd();
  const notes = results.filter((r) => r.errors > 0).map((r) => `  ${r.mix}: ${fmt(r.errors)} error replies: this mix does not replay as the lab sent it`);
  return [
    `One redis-server, each lab request's exact command mix (captured with MONITOR), ${connections} connections x ${CAPACITY_PIPELINE} requests pipelined:`,
    line(head),
    ...rows.map(line),
    ...notes,
  ].join('\n');
}

/** The anatomy section of the report, when its rows ran. */
export function anatomyReport(results: BenchResults): string | null {
  const group = results.groups.find((g) => g.name === 'anatomy');
  if (!group) return null;
  const a = anatomy(results.rows);
  const capacity = group.extra?.redisCapacity as CapacityResult[] | undefined;
  const parts = [anatomyText(a)];
  if (capacity) parts.push(capacityText(capacity, a.lookupsPerInstanceCore.redis, results.settings.connections));
  const costs = capacity && measuredCosts(results, capacity, group.extra?.redisBytesPerSession as number);
  if (costs) parts.push(projectionText(costs));
  return parts.join('\n\n');
}

/** The stacked chart of the anatomy rows, with the machine it ran on. */
export function anatomySvgOf(results: BenchResults): string {
  const m = results.machine;
  const sub = `${m.cores} cores, ${m.cpuModel}, node ${results.versions.node}, load ${m.loadAverageAtStart.join(' ')} at start; medians of ${results.settings.rounds} rounds; ${results.startedAt.slice(0, 16).replace('T', ' ')} UTC`;
  return anatomySvg(anatomy(results.rows), sub);
}

/**
 * The costs the projection uses: the instance's and Redis's CPU per lookup as the lab sends it
 * (the anatomy-redis row), or the pipelined figure when that is higher; the other mixes pipelined.
 */
export function measuredCosts(results: BenchResults, capacity: CapacityResult[], bytesPerSession: number): MeasuredCosts | null {
  const row = results.rows.find((r) => r.name === 'anatomy-redis')?.median?.cpu;
  const us = (mix: string) => capacity.find((c) => c.mix === mix)?.redisUsPerRequest;
  const [lookup, rolling, login, logout] = ['lookup', 'rolling', 'login', 'logout'].map(us);
  const instance = row?.[PROCESS.redis]?.usPerRequest;
  if (!instance || lookup === undefined || rolling === undefined || login === undefined || logout === undefined || !(bytesPerSession > 0)) return null;
  return {
    instanceUsPerLookup: instance,
    redisUs: { lookup: Math.max(lookup, row?.[PROCESS.server]?.usPerRequest ?? 0), rolling, login, logout },
    bytesPerSession,
  };
}

export const WORKLOAD = { requestsPerUserPerMinute: 6, refreshEverySec: 900, sessionLengthSec: 1800 };
export const PROJECTED_USERS = [10_000, 100_000, 1_000_000, 10_000_000];

export function projectionText(costs: MeasuredCosts): string {
  const w = WORKLOAD;
  const head = ['active users', 'lookups/s', 'instance cores', 'Redis cores', 'Redis memory', 'one Redis?'];
  const rows = PROJECTED_USERS.map((users) => {
    const p = project(costs, { activeUsers: users, ...w });
    return [fmt(users), fmt(p.lookupsPerSec), p.instanceCores.toFixed(2), p.redisCores.toFixed(3), `${(p.redisMemoryBytes / 2 ** 20).toFixed(0)} MiB`, p.oneRedis ? 'yes' : 'no: Cluster'];
  });
  const widths = head.map((_, c) => Math.max(...[head, ...rows].map((r) => r[c]!.length)));
  const line = (r: string[]) => `  ${r.map((cell, c) => cell.padStart(widths[c]!)).join('  ')}`;
  return [
    `Projection (docs/scaling.md): ${w.requestsPerUserPerMinute} lookups per active user per minute, a refresh write every ${w.refreshEverySec / 60} min, ` +
      `a login and a logout every ${w.sessionLengthSec / 60} min; cores at ${TARGET_UTILISATION * 100}% busy. Measured: instance ${costs.instanceUsPerLookup} µs/lookup, ` +
      `Redis ${costs.redisUs.lookup} µs/lookup, ${costs.redisUs.rolling} µs/rolling, ${costs.redisUs.login} µs/login, ${costs.redisUs.logout} µs/logout, ${costs.bytesPerSession} bytes/session`,
    line(head),
    ...rows.map(line),
  ].join('\n');
}
