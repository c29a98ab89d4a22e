import { timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Balancer, Logger } from '../balancer/index.js';
import type { AdminState } from '../clients/admin-client.js';
import type { ControlClient } from '../clients/control-client.js';
import type { LabRedis } from './lab-redis.js';
import type { LauncherLink } from './launcher-link.js';
import type { Monitor } from './monitor.js';
import type { LabState } from './state.js';
import type { StoreSync } from './store-sync.js';

export type Hook = (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

/** What the control plane's routes share: built once by the plugin (plugin.ts). */
export interface ControlContext {
  balancer: Balancer;
  state: LabState;
  sync: StoreSync;
  monitor: Monitor;
  launcher: LauncherLink;
  redis: LabRedis | undefined;
  /** Null without CONTROL_TOKEN: the instances' /_control routes are then out of reach. */
  control: ControlClient | null;
  log: Logger;
  /** Writes need `Authorization: Bearer <ADMIN_TOKEN>` when one is set. */
  authorize: Hook;
  /** The body of GET /api/state, and of every switch's answer. */
  view(): AdminState;
}

export function authorizer(token: string | undefined): Hook {
  const expected = token ? Buffer.from(`Bearer ${token}`) : null;
  return async (request, reply) => {
    if (!expected) return;
    const given = Buffer.from(request.headers.authorization ?? '');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return reply.code(401).send({ error: 'unauthorized', message: 'admin writes need the header Authorization: Bearer <ADMIN_TOKEN>' });
    }
  };
}

/** The lab's state joined with the balancer's counters: what GET /api/state answers. */
export function adminView(state: LabState, balancer: Balancer): AdminState {
  const requests = new Map(balancer.backends.map((b) => [b.id, b.requests]));
  return {
    routing: state.routing,
    store: state.store,
    mode: state.mode,
    instances: state.instances.map(({ id, url, up, store, storeOk, lastError }) => ({ id, url, up, store, storeOk, lastError, requests: requests.get(id) ?? 0 })),
    stats: { ...balancer.stats },
    heapUsedMiB: Math.round((process.memoryUsage().heapUsed / 1048576) * 10) / 10,
  };
}
