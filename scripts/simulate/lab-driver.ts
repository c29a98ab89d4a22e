import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdminError, adminClient, type AdminState } from '../../proxy/clients/admin-client.js';
import type { StoreKind, RoutingKind } from '../../services/vocabulary.js';
import type { BalancerKind } from '../../proxy/config.js';
import { startLab, type Lab } from '../lab.js';
import { startRedisServer, type RedisServer } from '../lib/redis-server.js';
import { writeFastAccounts } from './accounts.js';

/** Thrown for what the simulator cannot do with the lab it was given (a user error, exit code 2). */
export class SimulationError extends Error {
  override readonly name = 'SimulationError';
}

/**
 * A redis-server the simulator owns, so scenarios can stop and restart it. Its data
 * directory is ours too: a restart with appendonly reloads the sessions from it.
 */
export class OwnRedis {
  private constructor(
    public server: RedisServer,
    public appendOnly: boolean,
    readonly dir: string,
  ) {}

  static async start(appendOnly: boolean): Promise<OwnRedis> {
    const dir = mkdtempSync(join(tmpdir(), 'coatcheck-sim-redis-'));
    return new OwnRedis(await startRedisServer({ appendOnly, dir }), appendOnly, dir);
  }

  get url(): string {
    return this.server.url;
  }

  /** SIGTERM (Redis writes its AOF first, when it has one), data directory kept. */
  async stop(): Promise<void> {
    await this.server.stop({ keepData: true });
  }

  /** Starts again on the same port and directory: what a process restart does. */
  async start(): Promise<void> {
    this.server = await startRedisServer({ port: this.server.port, dir: this.dir, appendOnly: this.appendOnly });
  }

  /** A different Redis on the same port: empty, with or without appendonly. */
  async replace(appendOnly: boolean): Promise<void> {
    await this.server.stop();
    rmSync(this.dir, { recursive: true, force: true });
    mkdirSync(this.dir, { recursive: true });
    this.appendOnly = appendOnly;
    this.server = await startRedisServer({ port: this.server.port, dir: this.dir, appendOnly });
  }

  async close(): Promise<void> {
    await this.server.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface LabDriver {
  readonly url: string;
  readonly adminUrl: string;
  /** Whether the simulator started this lab (and may kill its instances and Redis). */
  readonly own: boolean;
  readonly redis: OwnRedis | null;
  /** Whether the instances can use the redis store at all (a Redis URL was configured). */
  readonly hasRedis: boolean;
  state(): Promise<AdminState>;
  /** Sets routing and store, then waits until every instance uses that store. */
  configure(routing: RoutingKind, store: StoreKind): Promise<void>;
  /** SIGKILL, then waits until the instance is restarted (empty) and the balancer uses it again. */
  kill(id: string): Promise<void>;
  addInstance(): Promise<string>;
  removeInstance(id: string): Promise<void>;
  /** Resolves when every instance answers /health with this store working. */
  waitSynced(store: StoreKind): Promise<void>;
  close(): Promise<void>;
}

async function poll(check: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** An admin API error, said as the simulator's (a user error: a wrong --admin-url, a refused switch). */
function said<T>(call: Promise<T>): Promise<T> {
  return call.catch((err: unknown) => {
    if (!(err instanceof AdminError)) throw err;
    throw new SimulationError(err.status === null ? `${err.message}; pass --admin-url` : err.message);
  });
}

/** Shared by both kinds of lab: everything the admin API can do. */
function adminDriver(url: string, adminUrl: string, token: string | undefined) {
  const client = adminClient(adminUrl, { token, timeoutMs: 10_000 });
  const admin = {
    setRouting: (routing: RoutingKind) => said(client.setRouting(routing)),
    setStore: (store: StoreKind) => said(client.setStore(store)),
    addInstance: (instance: { id: string; url: string }) => said(client.addInstance(instance)),
    removeInstance: (id: string) => said(client.removeInstance(id)),
  };
  const state = () => said(client.state());
  async function waitSynced(store: StoreKind): Promise<void> {
    await poll(async () => {
      const { instances } = await state();
      const reports = await Promise.all(
        instances.map(async (i) => {
          const response = await fetch(`${i.url}/health`, { signal: AbortSignal.timeout(1000) });
          const health = (await response.json()) as { store: StoreKind; storeOk: boolean };
          return i.up && health.store === store && health.storeOk;
        }),
      );
      return reports.every(Boolean);
    }, `every instance to be up and using the ${store} store`);
  }
  return {
    url,
    adminUrl,
    admin,
    state,
    waitSynced,
    async configure(routing: RoutingKind, store: StoreKind) {
      await admin.setRouting(routing);
      await admin.setStore(store);
      await waitSynced(store);
    },
  };
}

export interface OwnLabOptions {
  instances: number;
  routing: RoutingKind;
  store: StoreKind;
  /** Start a redis-server the simulator controls (stop, restart), with or without appendonly. */
  ownRedis?: { appendOnly: boolean };
  /** Stateless variants: the instances keep a revocation list in Redis. */
  revocation?: boolean;
  /** Log in against services/accounts.json (scrypt N=16384) instead of the fast copy. */
  demoAccounts?: boolean;
  /** What serves the public port (default the Node balancer). */
  balancer?: BalancerKind;
  onLine?: (name: string, line: string) => void;
}

/**
 * Hundreds of virtual users share four demo accounts and log in again and again on
 * purpose: the login-flood bounds would turn the lesson (who gets logged out, and why)
 * into 429s and evictions. Failures stay throttled as usual.
 */
export const SIMULATOR_INSTANCE_ENV: Readonly<Record<string, string>> = {
  LOG_LEVEL: 'warn',
  LOGIN_MAX_PER_ACCOUNT: '1000000',
  LOGIN_MAX_PER_IP: '1000000',
  SESSION_MAX_PER_USER: '1000000',
  LOGIN_HASH_QUEUE_PER_ACCOUNT: '10000',
  LOGIN_HASH_QUEUE_MAX: '100000',
};

/** Starts a lab of its own on free loopback ports. */
export async function startOwnLab(options: OwnLabOptions): Promise<LabDriver> {
  const accounts = options.demoAccounts ? null : await writeFastAccounts();
  let redis: OwnRedis | null = null;
  let lab: Lab | undefined;
  try {
    if (options.ownRedis) redis = await OwnRedis.start(options.ownRedis.appendOnly);
    lab = await startLab({
      routing: options.routing,
      store: options.store,
      instances: options.instances,
      ...(options.revocation && { revocation: 'redis' as const }),
      ...(options.balancer && { balancer: options.balancer }),
      port: 0,
      adminPort: 0,
      ...(redis && { redisUrl: redis.url }),
      instanceEnv: {
        // A prefix of our own: with REDIS_URL set, the simulator may share a Redis with a lab you run.
        REDIS_KEY_PREFIX: `coatcheck:sim:${randomBytes(4).toString('hex')}:`,
        ...(accounts && { ACCOUNTS_FILE: accounts.file }),
        ...SIMULATOR_INSTANCE_ENV,
      },
      // Quick health checks: a restarted instance is back in the pool within a fifth of a second.
      balancerEnv: { LOG_LEVEL: 'warn', HEALTH_INTERVAL_MS: '200' },
      onLine: (name, line) => options.onLine?.(name, line),
    });
  } catch (err) {
    await redis?.close();
    accounts?.remove();
    throw err;
  }
  const started = lab;
  const base = adminDriver(started.url, started.adminUrl, undefined);
  // Instances taken out of the pool but kept running, to be added again: starting a
  // process costs seconds, and a variant's fresh users have no sessions on it either way.
  const standby: { id: string; url: string }[] = [];
  return {
    ...base,
    own: true,
    redis,
    hasRedis: started.redisUrl !== undefined,
    async kill(id) {
      const back = started.waitForRestart(id);
      await started.killInstance(id, 'SIGKILL');
      await back;
      const { store } = await base.state();
      await base.waitSynced(store);
    },
    async addInstance() {
      const parked = standby.shift();
      if (parked) await base.admin.addInstance(parked);
      const id = parked?.id ?? (await started.addInstance()).id;
      const { store } = await base.state();
      await base.waitSynced(store);
      return id;
    },
    async removeInstance(id) {
      const instance = started.instances.find((i) => i.id === id);
      if (!instance) throw new Error(`no instance ${id}`);
      await base.admin.removeInstance(id);
      standby.push({ id, url: instance.url });
    },
    async close() {
      await started.close();
      await redis?.close();
      accounts?.remove();
    },
  };
}

/** A lab that is already running (npm start): the simulator only switches its mode, and restores it after. */
export async function connectLab(url: string, adminUrl: string, token: string | undefined): Promise<LabDriver> {
  const base = adminDriver(url, adminUrl, token);
  const initial = await base.state();
  const cannot = (what: string) => async (): Promise<never> => {
    throw new SimulationError(`${what} needs a lab the simulator starts itself: drop --url`);
  };
  return {
    ...base,
    own: false,
    redis: null,
    hasRedis: true, // the lab's admin API says so if not
    kill: cannot('killing an instance'),
    addInstance: cannot('adding an instance'),
    removeInstance: cannot('removing an instance'),
    async close() {
      await base.configure(initial.routing, initial.store).catch(() => undefined);
    },
  };
}
