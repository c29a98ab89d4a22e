import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { STORE_KINDS, type StoreKind } from '../config.js';
import type { SwitchableStore } from '../stores/switchable.js';

/**
 * Control routes for the balancer's admin API (never for users): switch the
 * session store, or crash this instance the way a bad deploy would. They exist
 * only when CONTROL_TOKEN is set, answer only to that bearer token, and the
 * balancer refuses to forward /_control from its public port.
 */
export function controlRoutes(app: FastifyInstance, token: string, store: SwitchableStore, crash: () => void): void {
  const expected = Buffer.from(`Bearer ${token}`);

  async function authorize(request: FastifyRequest, reply: FastifyReply) {
    const given = Buffer.from(request.headers.authorization ?? '');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return reply.code(403).send({ error: 'forbidden', message: 'control routes need the instance CONTROL_TOKEN' });
    }
  }

  app.put(
    '/_control/store',
    {
      onRequest: authorize,
      schema: {
        body: {
          type: 'object',
          required: ['store'],
          additionalProperties: false,
          properties: { store: { type: 'string', enum: [...STORE_KINDS] } },
        },
      },
    },
    async (request, reply) => {
      const { store: kind } = request.body as { store: StoreKind };
      if (!store.available().includes(kind)) {
        return reply.code(409).send({
          error: 'store_not_configured',
          message: `this instance has no ${kind} store: start it with REDIS_URL set`,
        });
      }
      store.switchTo(kind);
      request.log.info({ store: kind }, 'session store switched');
      return { store: store.kind };
    },
  );

  app.post('/_control/crash', { onRequest: authorize }, async (request, reply) => {
    request.log.warn('crash requested through /_control/crash');
    reply.raw.once('finish', crash);
    return reply.code(202).send({ crashing: true });
  });
}
