import { setTimeout as sleep } from 'node:timers/promises';
import { startLab, type Lab } from '../lab.js';
import { onNode, replicationOffset, type SentinelTopology } from '../lib/redis-sentinel.js';
import { DEMO_CREDENTIALS, writeFastAccounts } from './accounts.js';
import { SIMULATOR_INSTANCE_ENV } from './lab-driver.js';
import { VirtualUser, type Outcome } from './virtual-user.js';

export interface FailoverOptions {
  instances: number;
  /** Requests in flight at once. */
  concurrency: number;
  /** Traffic before the kill, and how long after every instance serves again. */
  warmupMs: number;
  /**
   * The replicas' links are cut this long before the kill (and the replicas frozen, so they
   * cannot reconnect), as a slow or broken link would leave them behind: the replication lag at
   * the kill. 0: they keep up as loopback allows.
   */
  lagMs: number;
  /** The write guard: WAIT for one replica, at most this long, after every session write. 0: none. */
  guardMs: number;
  onLine?: (name: string, line: string) => void;
}

export interface FailoverReport {
  guard: string;
  logins: { ok: number; refused503: number; other: number };
  lookups: { total: number; ok: number; unavailable503: number; status500: number; other: number };
  /** First to last 503 of the run, in ms from the kill (negative: before it, the guard refusing). */
  window: { firstMs: number | null; lastMs: number | null; ms: number };
  /** Logins answered 200 whose session was gone after the failover. */
  lostLogins: number;
  loginsChecked: number;
  /** Bytes of the primary's replication stream no replica had when it died. */
  lagBytesAtKill: number;
  /** From the kill until a Sentinel named the new primary. */
  failoverMs: number;
  /** From the kill until every instance answered with its store working again. */
  recoveredMs: number;
}

interface Timed extends Outcome {
  at: number;
}

/** The primary's position in its replication stream. */
function offsetOf(port: number): Promise<number> {
  return onNode(port, async (c) => replicationOffset(await c.info('replication')));
}

/** The status of GET /profile with the user's cookies; a dropped kept-alive socket is tried again. */
async function sessionStatus(url: string, user: VirtualUser): Promise<number> {
  const cookie = [...user.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  for (let attempt = 1; ; attempt++) {
    try {
      const response = await fetch(`${url}/profile`, { headers: { cookie }, signal: AbortSignal.timeout(10_000) });
      await response.body?.cancel();
      return response.status;
    } catch (err) {
      if (attempt === 3) throw new Error(`GET /profile failed three times: ${String((err as Error).cause ?? err)}`, { cause: err });
    }
  }
}

/** Every instance answers /health with its store working: none is stuck on the dead primary. */
async function everyInstanceServes(lab: Lab, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await Promise.all(
      lab.instances.map((i) =>
        fetch(`${i.url}/health`, { signal: AbortSignal.timeout(1000) })
          .then((r) => r.json() as Promise<{ storeOk?: boolean }>)
          .then((h) => h.storeOk === true)
          .catch(() => false),
      ),
    );
    if (ok.every(Boolean)) return;
    if (Date.now() > deadline) throw new Error(`an instance still cannot reach Redis ${timeoutMs} ms after the failover`);
    await sleep(50);
  }
}

/**
 * Virtual users log in and browse while the Sentinel primary is killed (SIGKILL). Every user is
 * new (one login, then a few lookups), so logins go on across the kill; afterwards every login
 * that got 200 is looked up once more: a 401 then is a login the failover lost.
 */
export async function runFailover(options: FailoverOptions): Promise<FailoverReport> {
  const accounts = await writeFastAccounts();
  let lab: Lab | undefined;
  try {
    lab = await startLab({
      mode: 'redis',
      redisTopology: 'sentinel',
      instances: options.instances,
      port: 0,
      adminPort: 0,
      restartCrashed: false,
      instanceEnv: {
        ...SIMULATOR_INSTANCE_ENV,
        ACCOUNTS_FILE: accounts.file,
        REDIS_WAIT_REPLICAS: options.guardMs > 0 ? '1' : '0',
        ...(options.guardMs > 0 && { REDIS_WAIT_MS: String(options.guardMs) }),
      },
      balancerEnv: { LOG_LEVEL: 'warn', HEALTH_INTERVAL_MS: '200' },
      onLine: (name, line) => options.onLine?.(name, line),
    });
    return await measure(lab, lab.sentinel!, options);
  } finally {
    await lab?.close();
    accounts.remove();
  }
}

async function measure(lab: Lab, topology: SentinelTopology, options: FailoverOptions): Promise<FailoverReport> {
  const logins: Timed[] = [];
  const lookups: Timed[] = [];
  const acknowledged: VirtualUser[] = [];
  let running = true;
  let n = 0;
  async function worker(): Promise<void> {
    while (running) {
      const account = DEMO_CREDENTIALS[n++ % DEMO_CREDENTIALS.length]!;
      const user = new VirtualUser({ baseUrl: lab.url, username: account.username, password: account.password, writeEvery: 4, timeoutMs: 5000 });
      const login = await user.login();
      logins.push({ ...login, at: performance.now() });
      // A user told 503 waits a little before trying again, as Retry-After asks.
      if (login.status === 503) await sleep(100);
      if (login.status === 200) acknowledged.push(user);
      for (let i = 0; i < 3 && running && user.loggedIn; i++) lookups.push({ ...(await user.step()), at: performance.now() });
      // Its cookies are all the check needs: an open socket per user would hit the balancer's
      // per-client connection cap (every virtual user comes from 127.0.0.1).
      user.close();
    }
  }
  const workers = Array.from({ length: options.concurrency }, () => worker());

  try {
    await sleep(options.warmupMs);
    let cut = { primaryPort: (await topology.primaryPort())!, offset: 0, release: () => {} };
    let primaryOffset: number;
    let killedAt: number;
    if (options.lagMs > 0) cut = await topology.holdReplicas();
    else cut.offset = await offsetOf(cut.primaryPort);
    const primary = cut.primaryPort;
    try {
      await sleep(options.lagMs);
      primaryOffset = await offsetOf(primary);
      killedAt = performance.now();
      await topology.killPrimary();
    } finally {
      cut.release();
    }
    await topology.waitForFailover(primary);
    const failoverMs = performance.now() - killedAt;
    await everyInstanceServes(lab);
    const recoveredMs = performance.now() - killedAt;
    await sleep(options.warmupMs);
    running = false;
    await Promise.all(workers);

    // Asked after the failover, through the balancer, on a fresh connection each: is each
    // acknowledged login still there? (A user's kept-alive socket may have idled out meanwhile.)
    let lost = 0;
    for (let i = 0; i < acknowledged.length; i += 32) {
      const statuses = await Promise.all(acknowledged.slice(i, i + 32).map((u) => sessionStatus(lab.url, u)));
      lost += statuses.filter((status) => status === 401).length;
      const other = statuses.find((status) => status !== 200 && status !== 401);
      if (other !== undefined) throw new Error(`after the failover, a session check got ${other}: the lab is not serving`);
    }
    const unavailable = [...logins, ...lookups].filter((o) => o.status === 503).map((o) => o.at - killedAt);
    const firstMs = unavailable.length ? Math.min(...unavailable) : null;
    const lastMs = unavailable.length ? Math.max(...unavailable) : null;
    return {
      guard: options.guardMs > 0 ? `WAIT 1 ${options.guardMs} ms` : 'none',
      logins: {
        ok: logins.filter((o) => o.status === 200).length,
        refused503: logins.filter((o) => o.status === 503).length,
        other: logins.filter((o) => o.status !== 200 && o.status !== 503).length,
      },
      lookups: {
        total: lookups.length,
        ok: lookups.filter((o) => o.status === 200).length,
        unavailable503: lookups.filter((o) => o.status === 503).length,
        status500: [...logins, ...lookups].filter((o) => o.status === 500).length,
        other: lookups.filter((o) => ![200, 503, 500].includes(o.status)).length,
      },
      window: { firstMs: round(firstMs), lastMs: round(lastMs), ms: firstMs === null ? 0 : Math.round(lastMs! - firstMs) },
      lostLogins: lost,
      loginsChecked: acknowledged.length,
      lagBytesAtKill: Math.max(0, primaryOffset - cut.offset),
      failoverMs: Math.round(failoverMs),
      recoveredMs: Math.round(recoveredMs),
    };
  } finally {
    running = false;
    await Promise.all(workers);
  }
}

const round = (x: number | null) => (x === null ? null : Math.round(x));
