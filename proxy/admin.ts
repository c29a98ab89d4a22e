import { timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import { STORE_KINDS, MODES, MODE_NAMES, ROUTING_KINDS, type StoreKind, type ModeName, type RoutingKind } from '../services/vocabulary.js';
import type { Balancer } from './balancer.js';
import type { Dashboard } from './dashboard.js';

export interface AdminOptions {
  /** When set, every write needs `Authorization: Bearer <token>`. */
  token: string | undefined;
  loggerInstance?: FastifyServerOptions['loggerInstance'];
  /** The live dashboard (GET /, GET /api/events and its controls); see dashboard.ts. */
  dashboard?: Dashboard;
}

/**
 * The admin API: on its own port (loopback by default), never on the public one.
 * GET /api/state reports; PUT /api/mode, /api/routing, /api/store switch at runtime.
 */
export function buildAdmin(balancer: Balancer, options: AdminOptions): FastifyInstance {
  const app = options.loggerInstance ? Fastify({ loggerInstance: options.loggerInstance }) : Fastify();
  const expected = options.token ? Buffer.from(`Bearer ${options.token}`) : null;

  async function authorize(request: FastifyRequest, reply: FastifyReply) {
    if (!expected) return;
    const given = Buffer.from(request.headers.authorization ?? '');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return reply.code(401).send({ error: 'unauthorized', message: 'admin writes need the header Authorization: Bearer <ADMIN_TOKEN>' });
    }
  }

  function state() {
    return {
      ...balancer.state(),
      instances: balancer.pool.backends.map(({ id, url, up, store, storeOk, lastError, requests }) => ({
        id,
        url,
        up,
        store,
        storeOk,
        lastError,
        requests,
      })),
      stats: balancer.stats,
    };
  }

  async function switchStore(kind: StoreKind, reply: FastifyReply) {
    const results = await balancer.setStore(kind);
    const failed = results.filter((r) => !r.ok);
    if (failed.length > 0) {
      return reply.code(409).send({
        error: 'store_switch_incomplete',
        message: `some instances could not switch to ${kind}: ${failed.map((f) => `${f.id}: ${f.error}`).join('; ')}`,
        ...state(),
      });
    }
    return state();
  }

  const body = (name: string, values: readonly string[]) => ({
    body: {
      type: 'object',
      required: [name],
      additionalProperties: false,
      properties: { [name]: { type: 'string', enum: [...values] } },
    },
  });

  app.get('/api/state', async () => state());
  options.dashboard?.register(app, authorize);

  app.put('/api/routing', { onRequest: authorize, schema: body('routing', ROUTING_KINDS) }, async (request) => {
    balancer.setRouting((request.body as { routing: RoutingKind }).routing);
    return state();
  });

  app.put('/api/store', { onRequest: authorize, schema: body('store', STORE_KINDS) }, async (request, reply) =>
    switchStore((request.body as { store: StoreKind }).store, reply),
  );

  app.put('/api/mode', { onRequest: authorize, schema: body('mode', MODE_NAMES) }, async (request, reply) => {
    const mode = MODES[(request.body as { mode: ModeName }).mode];
    balancer.setRouting(mode.routing);
    return switchStore(mode.store, reply);
  });

  app.post(
    '/api/instances',
    {
      onRequest: authorize,
      schema: {
        body: {
          type: 'object',
          required: ['id', 'url'],
          additionalProperties: false,
          properties: { id: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,40}$' }, url: { type: 'string', pattern: '^http://' } },
        },
      },
    },
    async (request, reply) => {
      const { id, url } = request.body as { id: string; url: string };
      if (balancer.pool.backends.some((b) => b.id === id)) {
        return reply.code(409).send({ error: 'instance_exists', message: `instance ${id} is already in the pool` });
      }
      balancer.addInstance({ id, url: new URL(url).origin });
      return reply.code(201).send(state());
    },
  );

  app.delete('/api/instances/:id', { onRequest: authorize }, async (request, reply) => {
    const { id } = request.params as { id: string };
    if (!balancer.removeInstance(id)) return reply.code(404).send({ error: 'no_such_instance', message: `no instance ${id}` });
    return state();
  });

  return app;
}
