import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { adminClient, type AdminClient } from '../proxy/clients/admin-client.js';
import type { BalancerKind } from '../proxy/config.js';
import { MODES, type RevocationKind, type StoreKind, type ModeName, type RoutingKind } from '../services/vocabulary.js';
import { serveLabActions } from './lab-actions.js';
import { startNode, stopChild } from './lib/processes.js';
import { REDIS_MISSING, hasRedisServer, startRedisServer, type RedisServer } from './lib/redis-server.js';
import { startSentinelTopology, type SentinelOptions, type SentinelTopology } from './lib/redis-sentinel.js';
import { redisAddressFromEnv } from '../services/stores/redis-address.js';

export interface LabOptions {
  mode?: ModeName;
  /** Override the mode's routing or store (they are independent settings). */
  routing?: RoutingKind;
  store?: StoreKind;
  instances?: number;
  /** Stateless mode's logout: nothing recorded (default), or a revocation list in Redis. */
  revocation?: RevocationKind;
  /** What serves the public port: the Node balancer (default) or HAProxy, driven by the same control plane. */
  balancer?: BalancerKind;
  /** Public balancer port; 0 picks a free one (tests). */
  port?: number;
  adminPort?: number;
  host?: string;
  /** redis://… or redis-sentinel://…/name: a Redis (or Sentinel set) the lab does not start. */
  redisUrl?: string;
  /** What the lab starts when no redisUrl is given: one redis-server, or a primary, replicas and Sentinels. */
  redisTopology?: 'single' | 'sentinel';
  sentinel?: SentinelOptions;
  sessionSecret?: string;
  adminToken?: string;
  /** Extra environment for every instance (e.g. SESSION_TTL_SECONDS) and for the balancer. */
  instanceEnv?: Record<string, string>;
  balancerEnv?: Record<string, string>;
  /** Restart an instance that exits on its own, as a container restart policy would (default true). */
  restartCrashed?: boolean;
  /** Every line the children print: name, line, stream. */
  onLine?: (name: string, line: string, stream: 'stdout' | 'stderr') => void;
}

export interface LabInstance {
  id: string;
  port: number;
  url: string;
  child: ChildProcess;
}

export interface Lab extends EventEmitter {
  url: string;
  /** The balancer's HTTPS listener (self-signed), when balancerEnv sets HTTPS_PORT. */
  httpsUrl: string | undefined;
  adminUrl: string;
  routing: RoutingKind;
  store: StoreKind;
  redisUrl: string | undefined;
  /** The redis-server the lab started itself, if any. */
  redis: RedisServer | null;
  /** The primary, replicas and Sentinels the lab started itself (--redis sentinel), if any. */
  sentinel: SentinelTopology | null;
  /**
   * SIGKILL to the Sentinel primary; resolves with its port. Then, in the background, the lab
   * waits for the failover and starts the dead node again as a replica, as a restart policy would
   * ('redis-promoted' and 'redis-rejoined' events).
   */
  killRedisPrimary(): Promise<number>;
  instances: LabInstance[];
  balancer: ChildProcess;
  /** What serves the public port. */
  balancerKind: BalancerKind;
  /** Kills an instance (SIGKILL by default); with restartCrashed it comes back empty, on the same port. */
  killInstance(id: string, signal?: NodeJS.Signals): Promise<void>;
  /** Resolves when the instance has been restarted and is ready again. */
  waitForRestart(id: string): Promise<LabInstance>;
  /** Starts one more instance and adds it to the balancer (unless `register: false`: the caller will). */
  addInstance(options?: { register?: boolean }): Promise<LabInstance>;
  /** Stops an instance on purpose (SIGTERM): unlike a crash, it is not restarted until startInstance. */
  stopInstance(id: string): Promise<void>;
  /** Starts a stopped instance again, on its port, with an empty memory store. */
  startInstance(id: string): Promise<LabInstance>;
  /** Takes an instance out of the balancer's pool (unless `deregister: false`: the caller did), then stops it. */
  removeInstance(id: string, options?: { deregister?: boolean }): Promise<void>;
  /** The balancer's admin API. */
  admin: AdminClient;
  close(): Promise<void>;
}

/**
 * Starts the whole lab as child processes: Redis (when needed), N app
 * instances, then the balancer in front of them. npm start and the tests both use it.
 */
export async function startLab(options: LabOptions = {}): Promise<Lab> {
  const preset = MODES[options.mode ?? 'memory'];
  const routing = options.routing ?? preset.routing;
  const store = options.store ?? preset.store;
  const count = options.instances ?? 3;
  const sessionSecret = options.sessionSecret ?? randomBytes(32).toString('hex');
  const controlToken = randomBytes(24).toString('hex');
  // The balancer proves itself with this on every request; instances believe X-Forwarded-* only then.
  const trustProxyToken = randomBytes(24).toString('hex');
  const onLine = options.onLine ?? (() => {});
  const restartCrashed = options.restartCrashed ?? true;
  const emitter = new EventEmitter();
  let closing = false;
  // Instances stopped on purpose (dashboard stop/remove): their exit is not a crash to restart.
  const stopped = new Set<string>();

  let redis: RedisServer | null = null;
  let sentinel: SentinelTopology | null = null;
  // Asked for a Sentinel set of its own: that, unless a Redis was named in the options themselves.
  let redisUrl = options.redisUrl ?? (options.redisTopology === 'sentinel' ? undefined : redisAddressFromEnv(process.env));
  if (!redisUrl && options.redisTopology === 'sentinel') {
    sentinel = await startSentinelTopology(options.sentinel);
    redisUrl = sentinel.url;
  } else if (!redisUrl) {
    if (hasRedisServer()) {
      redis = await startRedisServer();
      redisUrl = redis.url;
    } else if (store === 'redis' || options.revocation === 'redis') {
      throw new Error(REDIS_MISSING);
    }
  }

  const instanceEnv = (id: string, port: number): Record<string, string> => ({
    INSTANCE_ID: id,
    HOST: '127.0.0.1',
    PORT: String(port),
    STORE: store,
    SESSION_SECRET: sessionSecret,
    CONTROL_TOKEN: controlToken,
    TRUST_PROXY_TOKEN: trustProxyToken,
    ...(redisUrl && { REDIS_URL: redisUrl }),
    ...(options.revocation && { REVOCATION: options.revocation }),
    // The race lab's slow request (POST /cart?delay=): a lab feature, never in a production config.
    LAB_SLOW_MAX_MS: '5000',
    ...options.instanceEnv,
  });

  const instances: LabInstance[] = [];

  function instanceById(id: string): LabInstance {
    const instance = instances.find((i) => i.id === id);
    if (!instance) throw new Error(`no instance ${id}`);
    return instance;
  }

  async function spawnInstance(id: string, port: number): Promise<LabInstance> {
    const { child, ready } = await startNode('services/main.ts', instanceEnv(id, port), {
      name: id,
      onLine: (line, stream) => onLine(id, line, stream),
    });
    const instance: LabInstance = { id, port: ready.port, url: `http://127.0.0.1:${ready.port}`, child };
    child.once('exit', (code, signal) => {
      if (closing || !restartCrashed || stopped.has(id)) return;
      emitter.emit('crashed', id, signal ?? code);
      // Same port, empty memory: what a container restart policy does after a crash.
      setTimeout(() => {
        if (closing) return;
        spawnInstance(id, instance.port).then(
          (next) => {
            const index = instances.findIndex((i) => i.id === id);
            if (index >= 0) instances[index] = next;
            emitter.emit('restarted', next);
          },
          (err: Error) => emitter.emit('restart-failed', id, err),
        );
      }, 200);
    });
    return instance;
  }

  let balancer: ChildProcess | undefined;
  try {
    instances.push(...(await Promise.all(Array.from({ length: count }, (_, i) => spawnInstance(`app-${i + 1}`, 0)))));
    const started = await startNode(
      'proxy/main.ts',
      {
        HOST: options.host ?? '127.0.0.1',
        PORT: String(options.port ?? 8080),
        ADMIN_HOST: '127.0.0.1',
        ADMIN_PORT: String(options.adminPort ?? 8081),
        INSTANCES: instances.map((i) => `${i.id}=${i.url}`).join(','),
        ROUTING: routing,
        STORE: store,
        BALANCER: options.balancer ?? 'node',
        CONTROL_TOKEN: controlToken,
        TRUST_PROXY_TOKEN: trustProxyToken,
        ...(options.adminToken && { ADMIN_TOKEN: options.adminToken }),
        // The dashboard shows the shared logbook and can pause or flush it.
        ...(redisUrl && { REDIS_URL: redisUrl }),
        ...(options.instanceEnv?.REDIS_KEY_PREFIX && { REDIS_KEY_PREFIX: options.instanceEnv.REDIS_KEY_PREFIX }),
        ...(options.revocation && { REVOCATION: options.revocation }),
        ...options.balancerEnv,
      },
      { name: 'balancer', onLine: (line, stream) => onLine('balancer', line, stream) },
    );
    balancer = started.child;
    const adminUrl = `http://127.0.0.1:${started.ready.adminPort}`;

    const admin = adminClient(adminUrl, { token: options.adminToken });

    const lab: Lab = Object.assign(emitter, {
      url: `http://127.0.0.1:${started.ready.port}`,
      httpsUrl: started.ready.httpsPort === undefined ? undefined : `https://127.0.0.1:${started.ready.httpsPort}`,
      adminUrl,
      routing,
      store,
      redisUrl,
      redis,
      sentinel,
      instances,
      balancer,
      balancerKind: options.balancer ?? 'node',
      async killRedisPrimary() {
        if (!sentinel) throw new Error('this lab runs no Sentinel set of its own: start it with --redis sentinel');
        const topology = sentinel;
        const port = await topology.killPrimary();
        topology
          .waitForFailover(port)
          .then(async (next) => {
            if (closing) return;
            emitter.emit('redis-promoted', port, next);
            await topology.restartNode(port);
            if (!closing) emitter.emit('redis-rejoined', port, next);
          })
          .catch((err: Error) => closing || emitter.emit('redis-failover-failed', port, err));
        return port;
      },
      async killInstance(id: string, signal: NodeJS.Signals = 'SIGKILL') {
        const instance = instanceById(id);
        const exited = new Promise<void>((resolve) => instance.child.once('exit', () => resolve()));
        instance.child.kill(signal);
        await exited;
      },
      waitForRestart(id: string) {
        return new Promise<LabInstance>((resolve, reject) => {
          const onRestart = (next: LabInstance) => {
            if (next.id !== id) return;
            emitter.off('restarted', onRestart);
            resolve(next);
          };
          emitter.on('restarted', onRestart);
          emitter.once('restart-failed', (failed: string, err: Error) => failed === id && reject(err));
        });
      },
      async addInstance({ register = true } = {}) {
        let n = instances.length + 1;
        while (instances.some((i) => i.id === `app-${n}`)) n++;
        const id = `app-${n}`;
        const instance = await spawnInstance(id, 0);
        instances.push(instance);
        if (register) await admin.addInstance({ id, url: instance.url });
        return instance;
      },
      async stopInstance(id: string) {
        const instance = instanceById(id);
        stopped.add(id);
        await stopChild(instance.child);
      },
      async startInstance(id: string) {
        const index = instances.findIndex((i) => i.id === id);
        if (index < 0 || !stopped.has(id)) throw new Error(`${id} is not a stopped instance`);
        const next = await spawnInstance(id, instances[index]!.port);
        instances[index] = next;
        stopped.delete(id);
        return next;
      },
      async removeInstance(id: string, { deregister = true } = {}) {
        const instance = instanceById(id);
        if (deregister) await admin.removeInstance(id);
        stopped.add(id);
        await stopChild(instance.child);
        instances.splice(instances.indexOf(instance), 1);
        stopped.delete(id);
      },
      admin,
      async close() {
        closing = true;
        actions.close();
        await stopChild(balancer!);
        killGroupLeftovers(balancer!);
        await Promise.all(instances.map((i) => stopChild(i.child)));
        await redis?.stop();
        await sentinel?.stop();
      },
    });
    const actions = serveLabActions(lab, balancer);
    return lab;
  } catch (err) {
    closing = true;
    if (balancer) await stopChild(balancer);
    if (balancer) killGroupLeftovers(balancer);
    await Promise.all(instances.map((i) => stopChild(i.child)));
    await redis?.stop();
    await sentinel?.stop();
    throw err;
  }
}

/**
 * The balancer runs in a process group of its own (startNode), with HAProxy as its child when
 * BALANCER=haproxy. A balancer killed before it could stop HAProxy would leave it holding the
 * public port: whatever is left in the group goes with it.
 */
function killGroupLeftovers(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // ESRCH: nothing was left, as expected.
  }
}
