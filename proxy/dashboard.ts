import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Balancer, Logger } from './balancer.js';
import type { BalancerConfig } from './config.js';
import { EventStreams } from './events.js';
import { LabRedis } from './lab-redis.js';
import { STREAM_RATE_MAX, STREAM_RATE_MIN, type LabActionRequest } from './lab-protocol.js';
import { LabActionError, LauncherUnavailableError, connectLauncher, type LauncherLink } from './launcher-link.js';
import { Monitor } from './monitor.js';
import { PAGE_CSP, dashboardDir, loadFiles, type StaticFile } from './static-files.js';

type Authorize = (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

export interface Dashboard {
  monitor: Monitor;
  launcher: LauncherLink;
  redis: LabRedis | undefined;
  /** Adds the page, the event stream and the controls to the admin server. */
  register(app: FastifyInstance, authorize: Authorize): void;
}

const ID = { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,40}$' } as const;
const idParams = { type: 'object', required: ['id'], properties: { id: ID } } as const;
const empty = { type: 'object', additionalProperties: false, properties: {} } as const;

/**
 * The live dashboard on the admin port: GET / (the page), GET /api/events
 * (server-sent events) and the controls the page drives. Crash, Redis pause and
 * flush work everywhere; stop/start/add/remove an instance and the
 * virtual-user stream are asked of the launcher over IPC.
 */
export function createDashboard(
  balancer: Balancer,
  config: Pick<BalancerConfig, 'controlToken' | 'redisUrl' | 'redisKeyPrefix' | 'adminToken'>,
  log: Logger,
  channel: Parameters<typeof connectLauncher>[0] = process,
): Dashboard {
  const redis = config.redisUrl ? new LabRedis(config.redisUrl, config.redisKeyPrefix) : undefined;
  // Launcher events arrive over IPC, always after `live` below exists.
  const launcher = connectLauncher(channel, ({ text }) => {
    if (text) live.note(text);
    live.poke();
  });
  const live = new Monitor(balancer, { redis, launcher });
  live.start();

  let files: Map<string, StaticFile> | null = null;
  let missing = '';
  try {
    files = loadFiles(dashboardDir(), ['index.html', 'dashboard.js', 'dashboard.css']);
  } catch (err) {
    missing = (err as Error).message;
    log.warn({ err: missing }, 'dashboard page unavailable; the admin API still works');
  }

  function register(app: FastifyInstance, authorize: Authorize): void {
    const streams = new EventStreams(live, { adminTokenRequired: Boolean(config.adminToken), redisConfigured: Boolean(redis) });

    // A cross-site form can POST text/plain to a loopback port without any preflight;
    // demanding JSON forces one the admin server never grants (CSRF on the controls).
    async function requireJson(request: FastifyRequest, reply: FastifyReply) {
      if (!String(request.headers['content-type'] ?? '').startsWith('application/json')) {
        return reply.code(415).send({ error: 'unsupported_media_type', message: 'send a JSON body ({} is fine) with content-type: application/json' });
      }
    }
    const write = { onRequest: authorize, preValidation: requireJson };

    for (const [path, name] of [
      ['/', 'index.html'],
      ['/dashboard.js', 'dashboard.js'],
      ['/dashboard.css', 'dashboard.css'],
    ] as const) {
      app.get(path, async (_request, reply) => {
        const file = files?.get(name);
        if (!file) return reply.code(500).send({ error: 'dashboard_missing', message: missing });
        return reply
          .header('content-type', file.type)
          .header('cache-control', 'no-cache')
          .header('x-content-type-options', 'nosniff')
          .header('x-frame-options', 'DENY')
          .header('content-security-policy', PAGE_CSP)
          .send(file.body);
      });
    }

    app.get('/api/events', (request, reply) => {
      reply.hijack();
      if (!streams.open(reply.raw)) {
        reply.raw.writeHead(503, { 'content-type': 'application/json; charset=utf-8', 'retry-after': '5' });
        reply.raw.end(JSON.stringify({ error: 'too_many_streams', message: 'too many dashboards are open; close one and reload' }));
      }
    });

    function backend(id: string, reply: FastifyReply) {
      const found = balancer.pool.backends.find((b) => b.id === id);
      if (!found) reply.code(404).send({ error: 'no_such_instance', message: `no instance ${id} in the pool` });
      return found;
    }

    app.post('/api/instances/:id/crash', { ...write, schema: { params: idParams, body: empty } }, async (request, reply) => {
      const target = backend((request.params as { id: string }).id, reply);
      if (!target) return reply;
      if (!config.controlToken) {
        return reply.code(409).send({ error: 'no_control_token', message: 'the balancer has no CONTROL_TOKEN, so it cannot reach the instances\' /_control routes' });
      }
      try {
        const response = await fetch(`${target.url}/_control/crash`, {
          method: 'POST',
          headers: { authorization: `Bearer ${config.controlToken}` },
          signal: AbortSignal.timeout(2000),
        });
        if (response.status !== 202) throw new Error(`/_control/crash answered ${response.status}`);
      } catch (err) {
        return reply.code(502).send({ error: 'crash_failed', message: `${target.id} did not take the crash order: ${(err as Error).message}` });
      }
      // It is dying right now: say so before the next health check does.
      balancer.pool.markDown(target, 'crashed from the dashboard');
      live.note(`${target.id} was crashed from the dashboard: it will come back empty, as after a deploy`);
      live.poke();
      return reply.code(202).send({ crashing: target.id, message: `${target.id} crashed; it comes back with an empty memory logbook` });
    });

    async function ask(request: LabActionRequest, reply: FastifyReply) {
      try {
        const message = await launcher.request(request);
        live.poke();
        return { ok: true, message };
      } catch (err) {
        if (err instanceof LauncherUnavailableError) return reply.code(501).send({ error: 'launcher_unavailable', message: err.message });
        if (err instanceof LabActionError) return reply.code(409).send({ error: 'lab_action_failed', message: err.message });
        throw err;
      }
    }

    for (const action of ['stop', 'start', 'remove'] as const) {
      app.post(`/api/instances/:id/${action}`, { ...write, schema: { params: idParams, body: empty } }, async (request, reply) => {
        const { id } = request.params as { id: string };
        const known = balancer.pool.backends.some((b) => b.id === id) || launcher.inventory?.instances.some((i) => i.id === id);
        if (!known && launcher.available) return reply.code(404).send({ error: 'no_such_instance', message: `no instance ${id}` });
        return ask({ action: `${action}-instance`, instance: id }, reply);
      });
    }

    app.post('/api/lab/add-instance', { ...write, schema: { body: empty } }, async (_request, reply) => ask({ action: 'add-instance' }, reply));

    app.put(
      '/api/stream',
      {
        ...write,
        schema: {
          body: {
            type: 'object',
            required: ['rate'],
            additionalProperties: false,
            properties: { rate: { type: 'integer', minimum: STREAM_RATE_MIN, maximum: STREAM_RATE_MAX } },
          },
        },
      },
      async (request, reply) => ask({ action: 'stream-start', rate: (request.body as { rate: number }).rate }, reply),
    );
    app.delete('/api/stream', { onRequest: authorize }, async (_request, reply) => ask({ action: 'stream-stop' }, reply));

    function needRedis(reply: FastifyReply): LabRedis | undefined {
      if (!redis) reply.code(409).send({ error: 'no_redis', message: 'the balancer has no REDIS_URL, so it cannot reach Redis' });
      return redis;
    }

    app.post(
      '/api/redis/pause',
      {
        ...write,
        schema: {
          body: {
            type: 'object',
            required: ['seconds'],
            additionalProperties: false,
            properties: { seconds: { type: 'integer', minimum: 1, maximum: 30 } },
          },
        },
      },
      async (request, reply) => {
        const client = needRedis(reply);
        if (!client) return reply;
        const { seconds } = request.body as { seconds: number };
        try {
          await client.pause(seconds * 1000);
        } catch (err) {
          return reply.code(503).send({ error: 'redis_unavailable', message: `Redis did not take the pause: ${(err as Error).message}` });
        }
        live.markPaused(Date.now() + seconds * 1000);
        live.note(`Redis paused for ${seconds} s (CLIENT PAUSE ALL): every client waits, no data is lost`);
        live.poke();
        return { pausedForSeconds: seconds, message: `Redis paused for ${seconds} s` };
      },
    );

    app.post('/api/redis/flush', { ...write, schema: { body: empty } }, async (_request, reply) => {
      const client = needRedis(reply);
      if (!client) return reply;
      try {
        const deleted = await client.flush();
        live.note(`Redis flushed: ${deleted} session key(s) under ${client.keyPrefix} deleted, so every Redis session is gone`);
        live.poke();
        return { deleted, message: `${deleted} session key(s) deleted from Redis` };
      } catch (err) {
        return reply.code(503).send({ error: 'redis_unavailable', message: `Redis did not answer the flush: ${(err as Error).message}` });
      }
    });

    // Open event streams would keep the server from closing.
    app.addHook('preClose', async () => streams.close());
    app.addHook('onClose', async () => {
      live.stop();
      launcher.close();
      redis?.close();
    });
  }

  return { monitor: live, launcher, redis, register };
}
