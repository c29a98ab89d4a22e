import type { FastifyInstance, FastifyReply } from 'fastify';
import { MODES, MODE_NAMES, ROUTING_KINDS, STORE_KINDS, type ModeName, type RoutingKind, type StoreKind } from '../../services/vocabulary.js';
import type { ControlContext } from './context.js';
import { SwitchRefusedError } from './store-sync.js';

const choice = (name: string, values: readonly string[]) => ({
  body: {
    type: 'object',
    required: [name],
    additionalProperties: false,
    properties: { [name]: { type: 'string', enum: [...values] } },
  },
});

/**
 * The admin API: GET /api/state reports; PUT /api/mode, /api/routing, /api/store switch at
 * runtime (atomically: see store-sync.ts); POST/DELETE /api/instances change the pool.
 */
export function adminApi(app: FastifyInstance, lab: ControlContext): void {
  const { authorize, state, sync, balancer } = lab;

  async function switchTo(routing: RoutingKind, store: StoreKind, reply: FastifyReply) {
    try {
      await sync.switchTo(routing, store);
    } catch (err) {
      if (!(err instanceof SwitchRefusedError)) throw err;
      return reply.code(409).send({ error: 'store_switch_refused', message: err.message, refused: err.refused, ...lab.view() });
    }
    return lab.view();
  }

  app.get('/api/state', async () => lab.view());

  app.put('/api/routing', { onRequest: authorize, schema: choice('routing', ROUTING_KINDS) }, async (request, reply) =>
    switchTo((request.body as { routing: RoutingKind }).routing, state.store, reply),
  );

  app.put('/api/store', { onRequest: authorize, schema: choice('store', STORE_KINDS) }, async (request, reply) =>
    switchTo(state.routing, (request.body as { store: StoreKind }).store, reply),
  );

  app.put('/api/mode', { onRequest: authorize, schema: choice('mode', MODE_NAMES) }, async (request, reply) => {
    const mode = MODES[(request.body as { mode: ModeName }).mode];
    return switchTo(mode.routing, mode.store, reply);
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
      if (balancer.backends.some((b) => b.id === id)) {
        return reply.code(409).send({ error: 'instance_exists', message: `instance ${id} is already in the pool` });
      }
      addInstance(lab, { id, url: new URL(url).origin });
      return reply.code(201).send(lab.view());
    },
  );

  app.delete('/api/instances/:id', { onRequest: authorize }, async (request, reply) => {
    const { id } = request.params as { id: string };
    if (!removeInstance(lab, id)) return reply.code(404).send({ error: 'no_such_instance', message: `no instance ${id}` });
    return lab.view();
  });
}

/** Into the pool, out of the rotation until its first report shows the lab's store (or it was given it). */
export function addInstance(lab: ControlContext, instance: { id: string; url: string }): void {
  lab.state.join(instance);
  lab.balancer.addInstance(instance, { admitted: false });
}

export function removeInstance(lab: ControlContext, id: string): boolean {
  if (!lab.balancer.removeInstance(id)) return false;
  lab.state.leave(id);
  return true;
}
