import type { BenchSettings } from './defaults.js';
import type { BenchRequest } from './load.js';
import { once, track, type GroupSpec, type RowSpec } from './rows.js';
import { loginMany } from './sessions.js';
import { Stack } from './stack.js';

const CART_ADD: BenchRequest = { method: 'POST', path: '/cart', body: JSON.stringify({ item: 'bench' }) };

/**
 * 5. What the race guard costs per request, one Redis instance direct, guard off (RACE_GUARD=false:
 * the plain store) beside guard on (the default). A lookup: one GET, or one MGET of the session and
 * its cart when guarded. A cart add: a read, then a SET of the whole session, or one script
 * (tombstone check and append) when guarded.
 */
export function raceGuardGroup(settings: BenchSettings, profileDir?: string): GroupSpec {
  const stack = new Stack(profileDir);
  const redis = once(() => stack.redis('redis'));
  const instance = (guard: boolean) => once(async () => stack.instance(guard ? 'guarded' : 'naive', { store: 'redis', redisUrl: (await redis()).url, env: { RACE_GUARD: String(guard) } }));
  const instances = { true: instance(true), false: instance(false) };
  // Both instances share one Redis and key prefix: one set of logins serves all four rows.
  const cookies = once(async () => loginMany((await instances.true()).url, settings.sessions));
  const row = (name: string, title: string, guard: boolean, request?: BenchRequest): RowSpec => ({
    name,
    title,
    async prepare() {
      const app = await instances[`${guard}`]();
      return { url: app.url, cookies: await cookies(), tracked: track(app, await redis()), ...(request && { request }) };
    },
  });
  return {
    name: 'race-guard',
    title: 'The race guard, one Redis instance direct',
    rows: [
      row('naive-lookup', 'GET /profile, guard off (the plain lookup)', false),
      row('guard-lookup', 'GET /profile, guard on (session and cart in one MGET)', true),
      row('naive-cart', 'POST /cart, guard off (read, change, write back whole)', false, CART_ADD),
      row('guard-cart', 'POST /cart, guard on (one atomic script)', true, CART_ADD),
    ],
    close: () => stack.close(),
  };
}
