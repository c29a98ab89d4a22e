import { startSentinelTopology, type SentinelTopology } from '../lib/redis-sentinel.js';
import type { BenchSettings } from './defaults.js';
import { loginMany } from './sessions.js';
import { Stack, type Started } from './stack.js';
import { LOAD, type GroupSpec, type RowSpec } from './rows.js';
import { median } from './run.js';
import { SIMULATOR_INSTANCE_ENV } from '../simulate/lab-driver.js';

const GUARD = { REDIS_WAIT_REPLICAS: '1', REDIS_WAIT_MS: '100' };
const LOGINS = 100;

export interface LoginCost {
  logins: number;
  /** Median time of one login (one at a time, alternating), without and with the guard. */
  msPerLogin: { none: number; guard: number };
  extraMsPerLogin: number;
}

/**
 * The write guard's price. Two instances on one Sentinel set, one with WAIT 1 after each session
 * write. The rows are lookups with rolling: true (a session write per request), so autocannon
 * sees the guard on every request; finish() times real logins (scrypt and all) on each.
 */
export function writeGuardGroup(settings: BenchSettings, profileDir?: string): GroupSpec {
  const stack = new Stack(profileDir);
  let topology: Promise<SentinelTopology> | undefined;
  const instances = new Map<string, Promise<Started>>();
  const instance = (name: string, env: Record<string, string>) => {
    if (!instances.has(name)) {
      // Both rows and the timed logins log in again and again with the demo accounts: the login
      // bounds (per account, per address, sessions per user) are lifted, as for the simulator.
      const url = async () => (await (topology ??= startSentinelTopology())).url;
      instances.set(name, (async () => stack.instance(name, { store: 'redis', redisUrl: await url(), env: { ...SIMULATOR_INSTANCE_ENV, SESSION_ROLLING: 'true', ...env } }))());
    }
    return instances.get(name)!;
  };
  // One Redis and key prefix for both instances: one set of logins serves both rows.
  let cookies: Promise<string[]> | undefined;
  const row = (name: string, title: string, env: Record<string, string>): RowSpec => ({
    name,
    title,
    async prepare() {
      const started = await instance(name, env);
      const primary = (await topology!).nodes[0]!.server.process.pid!;
      cookies ??= loginMany(started.url, settings.sessions);
      return { url: started.url, cookies: await cookies, tracked: [LOAD, { name: started.name, pid: started.pid }, { name: 'redis-primary', pid: primary }] };
    },
  });
  // One login at a time, alternating between the two instances, so that whatever else the
  // machine does hits both alike; the median of each side. A login is mostly scrypt (~55 ms of
  // CPU): the guard's round trip is the difference of the medians, not of the totals.
  const timeLogins = async (urls: [string, string]) => {
    const samples: [number[], number[]] = [[], []];
    for (let i = 0; i < LOGINS; i++) {
      for (const side of i % 2 === 0 ? [0, 1] : [1, 0]) {
        const start = performance.now();
        await loginMany(urls[side]!, 1);
        samples[side]!.push(performance.now() - start);
      }
    }
    return samples.map(median) as [number, number];
  };
  return {
    name: 'write-guard',
    title: 'One instance, Redis behind Sentinel (a primary, 2 replicas), rolling: true',
    rows: [row('sentinel-rolling', 'no write guard', {}), row('sentinel-rolling-guard', 'write guard: WAIT 1 replica, 100 ms', GUARD)],
    async finish() {
      const [none, guard] = await timeLogins([(await instance('sentinel-rolling', {})).url, (await instance('sentinel-rolling-guard', GUARD)).url]);
      const round = (x: number) => Math.round(x * 100) / 100;
      const loginCost: LoginCost = { logins: LOGINS, msPerLogin: { none: round(none), guard: round(guard) }, extraMsPerLogin: round(guard - none) };
      return { loginCost };
    },
    async close() {
      await stack.close();
      await (await topology?.catch(() => undefined))?.stop();
    },
  };
}
