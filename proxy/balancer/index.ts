import { EventEmitter } from 'node:events';
import type http from 'node:http';
import type https from 'node:https';
import type { RoutingKind } from '../../services/vocabulary.js';
import type { BalancerConfig, InstanceAddress } from '../config.js';
import { createForwarder, type BalancerStats, type FrontRoute, type Logger, type ServedEvent } from './forwarding.js';
import { Pool, type PoolBackend } from './pool.js';
import { createPublicServers } from './server.js';
import { createStrategy, type Strategy } from './strategies.js';

export type { BalancerStats, FrontRoute, Logger, ServedEvent };
export type { HealthReportEvent, PoolBackend } from './pool.js';

/**
 * The data plane, as the control plane sees it. It routes; it knows nothing of stores,
 * modes or dashboards. The control plane decides the routing kind and which instances
 * are admitted, and listens to the pool (up, down, report) and the traffic (served).
 */
export interface Balancer {
  server: http.Server;
  /** The port clients reach the lab on (null until it listens). */
  readonly publicPort: number | null;
  /** Health checks: emits 'up', 'down' and 'report' (see pool.ts). */
  pool: Pool;
  readonly backends: readonly PoolBackend[];
  stats: BalancerStats;
  /** Emits 'served' (ServedEvent) for every answer an instance gave. */
  traffic: EventEmitter<{ served: [ServedEvent] }>;
  readonly routing: RoutingKind;
  setRouting(kind: RoutingKind): void;
  /** Resolves once every routing and pool change made so far serves traffic (at once here; HAProxy reloads). */
  settled(): Promise<void>;
  /** A new instance is in the rotation once its first health check passes AND, unless `admitted`, once setAdmission lets it in. */
  addInstance(instance: InstanceAddress, options?: { admitted?: boolean }): PoolBackend;
  removeInstance(id: string): boolean;
  /** Keeps an instance out of the rotation (false) or lets it back in (true); false when no such instance. */
  setAdmission(id: string, admitted: boolean): boolean;
  /** Out of the rotation until its next good health check (it was just crashed, say). */
  markDown(id: string, reason: string): void;
  /** A second, HTTPS listener with the same routing (not listening yet); closed by close(). */
  attachTls(tls: { key: string; cert: string }): https.Server;
  close(): Promise<void>;
}

/** The reverse proxy in front of the instances. Never listens: main.ts does. */
export function createBalancer(config: BalancerConfig, log: Logger = console, options: { front?: FrontRoute } = {}): Balancer {
  let routing: RoutingKind = config.routing;
  let strategy: Strategy = createStrategy(routing);
  const stats: BalancerStats = { requests: 0, retries: 0, failed: 0 };
  const traffic = new EventEmitter<{ served: [ServedEvent] }>();
  traffic.setMaxListeners(0);
  const pool = new Pool(config.instances, config.healthIntervalMs);
  const forwarder = createForwarder({ config, pool, strategy: () => strategy, stats, traffic, log, front: options.front });
  const servers = createPublicServers(config, forwarder.onRequest, log);
  const find = (id: string) => pool.backends.find((b) => b.id === id);
  pool.start();

  return {
    server: servers.server,
    get publicPort() {
      const address = servers.server.address();
      return typeof address === 'object' && address ? address.port : null;
    },
    pool,
    get backends() {
      return pool.backends;
    },
    stats,
    traffic,
    get routing() {
      return routing;
    },
    setRouting(kind) {
      routing = kind;
      strategy = createStrategy(kind);
    },
    settled: async () => {},
    addInstance(instance, { admitted = true } = {}) {
      const backend = pool.add(instance, admitted);
      void pool.check(backend);
      return backend;
    },
    removeInstance: (id) => pool.remove(id),
    setAdmission(id, admitted) {
      const backend = find(id);
      if (!backend) return false;
      backend.admitted = admitted;
      return true;
    },
    markDown(id, reason) {
      const backend = find(id);
      if (backend) pool.markDown(backend, reason);
    },
    attachTls: servers.attachTls,
    async close() {
      pool.stop();
      await servers.close();
      forwarder.close();
    },
  };
}
