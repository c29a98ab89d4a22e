import { randomBytes } from 'node:crypto';
import type { RoutingKind, StoreKind } from '../../services/vocabulary.js';
import { startNode, stopChild } from '../lib/processes.js';
import { startRedisServer, type RedisServer } from '../lib/redis-server.js';
import { startBenchHaproxy } from './haproxy.js';
import type { AnatomyLayer } from './anatomy-layers.js';
import { startNginx, type Nginx } from './nginx.js';

export interface Started {
  name: string;
  url: string;
  pid: number;
}

export interface InstanceOptions {
  store: StoreKind;
  redisUrl?: string;
  /** Extra environment, e.g. SESSION_ROLLING=true or REDIS_AUTOPIPELINING=false. */
  env?: Record<string, string>;
}

/**
 * The processes of one bench group, started on free loopback ports and closed
 * together (in reverse order) whatever happens: no orphans after a failed run.
 */
export class Stack {
  private static readonly open = new Set<Stack>();
  readonly secret = randomBytes(32).toString('hex');
  readonly controlToken = randomBytes(24).toString('hex');
  /** Every Redis key this run writes starts with it, so nothing else is touched. */
  readonly keyPrefix = `bench:${randomBytes(4).toString('hex')}:`;
  private readonly closers: (() => Promise<void>)[] = [];
  private readonly log: string[] = [];

  /** With a directory, every Node child writes a V8 CPU profile there when it exits (--cpu-prof). */
  constructor(private readonly profileDir?: string) {
    Stack.open.add(this);
  }

  /** The profile is named after the process (`lab-redis.<pid>.cpuprofile`), so each row's can be found. */
  private nodeArgs(name = 'node'): string[] {
    return this.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${this.profileDir}`, `--cpu-prof-name=${name}.\${pid}.cpuprofile`] : [];
  }

  /** Ctrl-C: stop the children of every stack still open. */
  static closeAll(): Promise<void> {
    return Promise.all([...Stack.open].map((s) => s.close())).then(() => undefined);
  }

  private remember(name: string, line: string): void {
    this.log.push(`[${name}] ${line}`);
    if (this.log.length > 50) this.log.shift();
  }

  /** The last lines the children printed, for an error message. */
  tail(): string {
    return this.log.join('\n');
  }

  async redis(name: string): Promise<Started & { server: RedisServer }> {
    const server = await startRedisServer();
    this.closers.push(() => server.stop());
    return { name, url: server.url, pid: server.process.pid!, server };
  }

  async instance(name: string, options: InstanceOptions): Promise<Started> {
    const { child, ready } = await startNode(
      'services/main.ts',
      {
        INSTANCE_ID: name,
        HOST: '127.0.0.1',
        PORT: '0',
        STORE: options.store,
        SESSION_SECRET: this.secret,
        CONTROL_TOKEN: this.controlToken,
        REDIS_KEY_PREFIX: this.keyPrefix,
        LOG_LEVEL: 'warn',
        ...(options.redisUrl && { REDIS_URL: options.redisUrl }),
        ...options.env,
      },
      { name, onLine: (line) => this.remember(name, line), nodeArgs: this.nodeArgs(name) },
    );
    this.closers.push(() => stopChild(child));
    return { name, url: `http://127.0.0.1:${ready.port}`, pid: child.pid! };
  }

  async balancer(name: string, backends: Started[], routing: RoutingKind, store: StoreKind): Promise<Started> {
    const { child, ready } = await startNode(
      'proxy/main.ts',
      {
        HOST: '127.0.0.1',
        PORT: '0',
        ADMIN_HOST: '127.0.0.1',
        ADMIN_PORT: '0',
        INSTANCES: backends.map((b) => `${b.name}=${b.url}`).join(','),
        ROUTING: routing,
        STORE: store,
        CONTROL_TOKEN: this.controlToken,
        LOG_LEVEL: 'warn',
      },
      { name, onLine: (line) => this.remember(name, line), nodeArgs: this.nodeArgs(name) },
    );
    this.closers.push(() => stopChild(child));
    return { name, url: `http://127.0.0.1:${ready.port}`, pid: child.pid! };
  }

  /** A backend that answers every request with a fixed JSON body: the proxy's own cost, isolated. */
  async trivial(name: string): Promise<Started> {
    const { child, ready } = await startNode('scripts/bench/trivial-backend.ts', { PORT: '0' }, { name, nodeArgs: this.nodeArgs(name) });
    this.closers.push(() => stopChild(child));
    return { name, url: `http://127.0.0.1:${ready.port}`, pid: child.pid! };
  }

  /** The floor for any proxy on node:http: see minimal-proxy.ts. */
  async minimalProxy(name: string, backends: Started[]): Promise<Started> {
    const { child, ready } = await startNode(
      'scripts/bench/minimal-proxy.ts',
      { PORT: '0', TARGETS: backends.map((b) => b.url).join(',') },
      { name, nodeArgs: this.nodeArgs(name) },
    );
    this.closers.push(() => stopChild(child));
    return { name, url: `http://127.0.0.1:${ready.port}`, pid: child.pid! };
  }

  /** A stand-in instance with only some of the layers (scripts/bench/anatomy-app.ts). */
  async anatomyApp(name: string, layer: AnatomyLayer): Promise<Started> {
    const { child, ready } = await startNode(
      'scripts/bench/anatomy-app.ts',
      { PORT: '0', LAYER: layer, SESSION_SECRET: this.secret },
      { name, onLine: (line) => this.remember(name, line), nodeArgs: this.nodeArgs(name) },
    );
    this.closers.push(() => stopChild(child));
    return { name, url: `http://127.0.0.1:${ready.port}`, pid: child.pid! };
  }

  async nginx(name: string, backends: Started[]): Promise<Started & { nginx: Nginx }> {
    const nginx = await startNginx(backends.map((b) => b.url));
    this.closers.push(() => nginx.stop());
    return { name, url: nginx.url, pid: nginx.pid, nginx };
  }

  /** HAProxy with the lab's generated configuration, in front of the same instances. */
  async haproxy(name: string, backends: Started[], routing: RoutingKind): Promise<Started> {
    const haproxy = await startBenchHaproxy(backends.map((b) => ({ id: b.name, url: b.url })), routing);
    this.closers.push(() => haproxy.stop());
    return { name, url: haproxy.url, pid: haproxy.pid };
  }

  async close(): Promise<void> {
    Stack.open.delete(this);
    const closers = this.closers.splice(0).reverse();
    for (const close of closers) await close().catch(() => undefined);
  }
}
