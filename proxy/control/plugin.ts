import type { FastifyInstance } from 'fastify';
import type { Balancer, Logger } from '../balancer/index.js';
import { controlClient } from '../clients/control-client.js';
import type { BalancerConfig } from '../config.js';
import { adminApi } from './admin-api.js';
import { adminView, authorizer, type ControlContext } from './context.js';
import { dashboardRoutes } from './dashboard-routes.js';
import { hostGuard } from './host-guard.js';
import { LabRedis } from './lab-redis.js';
import { TopologyWatch } from './redis-topology.js';
import { topologyRoutes } from './topology-routes.js';
import { parseSentinelAddress } from '../../services/stores/redis-address.js';
import { connectLauncher } from './launcher-link.js';
import { Monitor } from './monitor.js';
import { replayRoute } from './replay.js';
import { raceRoutes } from './race.js';
import { LabState } from './state.js';
import { StoreSync } from './store-sync.js';

export interface ControlPlaneOptions {
  balancer: Balancer;
  config: Pick<BalancerConfig, 'routing' | 'store' | 'instances' | 'adminAllowedHosts' | 'controlToken' | 'adminToken' | 'redisUrl' | 'redisKeyPrefix'> & Partial<Pick<BalancerConfig, 'revocation'>>;
  log: Logger;
  /** The IPC channel to the launcher (npm start, tests); process by default. */
  channel?: Parameters<typeof connectLauncher>[0];
}

/**
 * The lab's control plane, as one Fastify plugin on the admin server: the admin API, the
 * dashboard and its event stream, the Redis panel, instance lifecycle through the launcher,
 * and store sync. It owns the lab's state (LabState); the balancer only routes.
 * Data flows one way: a lab action changes the state and the balancer, and comes back to
 * the dashboard as a change event.
 */
export async function controlPlane(app: FastifyInstance, options: ControlPlaneOptions): Promise<void> {
  const { balancer, config, log } = options;
  const state = new LabState({ routing: config.routing, store: config.store }, config.instances);
  balancer.setRouting(config.routing);
  const control = config.controlToken ? controlClient(config.controlToken) : null;
  const sync = new StoreSync(balancer, state, control, log);
  const redis = config.redisUrl ? new LabRedis(config.redisUrl, config.redisKeyPrefix) : undefined;
  // Launcher events arrive over IPC, always after `monitor` below exists.
  const launcher = connectLauncher(options.channel ?? process, ({ text }) => {
    if (text) monitor.note(text);
    monitor.poke();
  });
  const monitor = new Monitor(balancer, state, { redis, launcher });
  // Through Sentinel, its connection always reaches the current primary: ask it for the topology.
  const topology = redis && config.redisUrl && parseSentinelAddress(config.redisUrl) ? new TopologyWatch(redis.client) : undefined;
  monitor.start();

  const context: ControlContext = {
    balancer,
    state,
    sync,
    monitor,
    launcher,
    redis,
    control,
    log,
    authorize: authorizer(config.adminToken),
    // The revocation list is the instances' start-up setting: shown, not switched.
    view: () => ({ ...adminView(state, balancer), revocation: config.revocation ?? 'none', ...(topology && { redisTopology: topology.latest }) }),
  };
  // Before every route's own hooks: a rebinding page gets no answer, not even a 401.
  app.addHook('onRequest', hostGuard(config.adminAllowedHosts));
  adminApi(app, context);
  replayRoute(app, context);
  dashboardRoutes(app, context, { adminTokenRequired: Boolean(config.adminToken) });
  raceRoutes(app, context);
  topologyRoutes(app, context);

  app.addHook('onClose', async () => {
    monitor.stop();
    sync.close();
    launcher.close();
    topology?.close();
    redis?.close();
  });
}
