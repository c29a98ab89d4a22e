import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest, Session } from 'fastify';
import type { AppConfig } from '../config.js';
import { instanceHealth, processHealth } from '../health.js';
import { STORE_KINDS, type StoreKind } from '../vocabulary.js';
import type { SwitchableStore } from '../stores/switchable.js';
import { setSession } from '../stores/types.js';
import type { SlowRequests } from '../lab-slow.js';
import { seededSession, seedSessionSchema } from './seed.js';

/** Ids per /_control/seed request, and the body that carries them (ids of ~32 chars). */
const SEED_BATCH_MAX = 50_000;
const SEED_BODY_LIMIT = 8 * 1024 * 1024;

/**
 * Control routes for the balancer's admin API (never for users): switch the
 * session store, read the process's health, or crash this instance the way a bad
 * deploy would. They exist only when CONTROL_TOKEN is set, answer only to that
 * bearer token, and the balancer refuses to forward /_control from its public port.
 */
export function controlRoutes(
  app: FastifyInstance,
  token: string,
  config: AppConfig & { bootId: string },
  store: SwitchableStore,
  crash: () => void,
  slow: SlowRequests,
): void {
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
      // A new Redis connection takes a moment and the store fails fast meanwhile: answer once
      // it serves (or after 2 s), so the first login after a switch is not a 503.
      const storeOk = await store.whenReady(2000);
      request.log.info({ store: kind, storeOk }, 'session store switched');
      return { store: store.kind, storeOk };
    },
  );

  // Bench only: fills this instance's logbook with many copies of one session under
  // the given ids, through the active store's own set(). Measuring lookups with a
  // million sessions stored would otherwise take a million scrypt logins.
  app.post(
    '/_control/seed',
    {
      onRequest: authorize,
      bodyLimit: SEED_BODY_LIMIT,
      schema: {
        body: {
          type: 'object',
          required: ['ids', 'session'],
          additionalProperties: false,
          properties: {
            ids: { type: 'array', maxItems: SEED_BATCH_MAX, items: { type: 'string', minLength: 1, maxLength: 128 } },
            session: seedSessionSchema,
          },
        },
      },
    },
    async (request, reply) => {
      const { ids, session } = request.body as { ids: string[]; session: Session };
      const seeded = seededSession(session, config.sessionTtlSeconds);
      if (typeof seeded === 'string') return reply.code(400).send({ error: 'invalid_body', message: seeded });
      // Straight into the store, not through the user index: the bench measures what the logbook
      // costs per session, and a million seeded copies of one user would only grow that user's index.
      const sessions = store.sessions;
      await Promise.all(ids.map((id) => setSession(sessions, id, seeded)));
      return { seeded: ids.length, sessions: await store.size() };
    },
  );

  // The race lab's switch: guarded stores (the default) or the naive read-modify-write, to show the race.
  app.put(
    '/_control/race-guard',
    {
      onRequest: authorize,
      schema: { body: { type: 'object', required: ['on'], additionalProperties: false, properties: { on: { type: 'boolean' } } } },
    },
    async (request) => {
      store.guard.on = (request.body as { on: boolean }).on;
      request.log.info({ raceGuard: store.guard.on }, store.guard.on ? 'race guard on' : 'race guard OFF: concurrent requests can lose updates and undo logouts');
      return { raceGuard: store.guard.on };
    },
  );

  // The process behind the instance, for the operator and the soak test; /health keeps it private.
  app.get('/_control/health', { onRequest: authorize }, async () => ({
    ...(await instanceHealth(config.instanceId, config.bootId, store)),
    ...processHealth(),
    raceGuard: store.guard.on,
    holding: slow.holding,
  }));

  app.post('/_control/crash', { onRequest: authorize }, async (request, reply) => {
    request.log.warn('crash requested through /_control/crash');
    reply.raw.once('finish', crash);
    return reply.code(202).send({ crashing: true });
  });
}
