import { startSentinelTopology, type SentinelTopology } from '../lib/redis-sentinel.js';
import type { BenchSettings } from './defaults.js';
import { loginMany } from './sessions.js';
import { Stack, type Started } from './stack.js';
import { LOAD, type GroupSpec, type RowSpec } from './rows.js';

const GUARD = { REDIS_WAIT_REPLICAS: '1', REDIS_WAIT_MS: '100' };
const LOGINS = 200;

export interface LoginCost {
  logins: number;
  /** Wall time per login, 4 at a time, without and with the guard. */
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
      instances.set(name, (async () => stack.instance(name, { store: 'redis', redisUrl: (await (topology ??= startSentinelTopology())).url, env: { SESSION_ROLLING: 'true', ...env } }))());
    }
    return instances.get(name)!;
  };
  const row = (name: string, title: string, env: Record<string, string>): RowSpec => ({
    name,
    title,
    async prepare() {
      const started = await instance(name, env);
      const primary = (await topology!).nodes[0]!.server.process.pid!;
      return { url: started.url, cookies: await loginMany(started.url, settings.sessions), tracked: [LOAD, { name: started.name, pid: started.pid }, { name: 'redis-primary', pid: primary }] };
    },
  });
  const timeLogins = async (url: string) => {
    const start = performance.now();
    await loginMany(url, LOGINS);
    return (performance.now() - start) / LOGINS;
  };
  return {
    name: 'write-guard',
    title: 'One instance, Redis behind Sentinel (a primary, 2 replicas), rolling: true',
    rows: [row('sentinel-rolling', 'no write guard', {}), row('sentinel-rolling-guard', 'write guard: WAIT 1 replica, 100 ms', GUARD)],
    async finish() {
      const none = await timeLogins((await instance('sentinel-rolling', {})).url);
      const guard = await timeLogins((await instance('sentinel-rolling-guard', GUARD)).url);
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
