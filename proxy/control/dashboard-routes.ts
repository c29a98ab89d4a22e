import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DASHBOARD_DIR, PAGE_CSP, loadFiles, type StaticFile } from '../static-files.js';
import { addInstance, removeInstance } from './admin-api.js';
import type { ControlContext } from './context.js';
import { EventStreams } from './events.js';
import { STREAM_RATE_MAX, STREAM_RATE_MIN, type LabActionRequest } from './lab-protocol.js';
import { LabActionError, LauncherUnavailableError } from './launcher-link.js';
import type { LabRedis } from './lab-redis.js';

const ID = { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,40}$' } as const;
const idParams = { type: 'object', required: ['id'], properties: { id: ID } } as const;
const empty = { type: 'object', additionalProperties: false, properties: {} } as const;

/**
 * The live dashboard on the admin port: GET / (the page), GET /api/events (server-sent
 * events) and the controls the page drives. Crash, Redis pause and flush work everywhere;
 * stop/start/add/remove an instance and the virtual-user stream are asked of the launcher
 * over IPC.
 */
export function dashboardRoutes(app: FastifyInstance, lab: ControlContext, options: { adminTokenRequired: boolean }): void {
  const { authorize, monitor, launcher, redis, state, balancer } = lab;

  let files: Map<string, StaticFile> | null = null;
  let missing = '';
  try {
    files = loadFiles(DASHBOARD_DIR, ['index.html', 'dashboard.js', 'topology.js', 'dashboard.css']);
  } catch (err) {
    missing = (err as Error).message;
    lab.log.warn({ err: missing }, 'dashboard page unavailable; the admin API still works');
  }

  const streams = new EventStreams(monitor, { adminTokenRequired: options.adminTokenRequired, redisConfigured: Boolean(redis) });

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
    ['/topology.js', 'topology.js'],
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

  app.get('/api/events', (_request, reply) => {
    reply.hijack();
    if (!streams.open(reply.raw)) {
      reply.raw.writeHead(503, { 'content-type': 'application/json; charset=utf-8', 'retry-after': '5' });
      reply.raw.end(JSON.stringify({ error: 'too_many_streams', message: 'too many dashboards are open; close one and reload' }));
    }
  });

  app.post('/api/instances/:id/crash', { ...write, schema: { params: idParams, body: empty } }, async (request, reply) => {
    const target = state.instance((request.params as { id: string }).id);
    if (!target) return reply.code(404).send({ error: 'no_such_instance', message: `no instance ${(request.params as { id: string }).id} in the pool` });
    if (!lab.control) {
      return reply.code(409).send({ error: 'no_control_token', message: 'the balancer has no CONTROL_TOKEN, so it cannot reach the instances\' /_control routes' });
    }
    try {
      await lab.control.crash(target.url);
    } catch (err) {
      return reply.code(502).send({ error: 'crash_failed', message: `${target.id} did not take the crash order: ${(err as Error).message}` });
    }
    // It is dying right now: say so before the next health check does.
    monitor.note(`${target.id} was crashed from the dashboard: it will come back empty, as after a deploy`);
    monitor.mark('crash', `${target.id} crashed`);
    balancer.markDown(target.id, 'crashed from the dashboard');
    monitor.poke();
    const after = state.store === 'memory' ? 'it comes back with an empty memory logbook' : `it comes back, and its sessions are still in ${state.store}`;
    return reply.code(202).send({ crashing: target.id, message: `${target.id} crashed; ${after}` });
  });

  async function ask(request: LabActionRequest, reply: FastifyReply) {
    try {
      const result = await launcher.request(request);
      // The launcher started a process; the pool is ours to change.
      if (result.instance) addInstance(lab, result.instance);
      monitor.poke();
      return { ok: true, message: result.message };
    } catch (err) {
      if (err instanceof LauncherUnavailableError) return reply.code(501).send({ error: 'launcher_unavailable', message: err.message });
      if (err instanceof LabActionError) return reply.code(409).send({ error: 'lab_action_failed', message: err.message });
      throw err;
    }
  }

  for (const action of ['stop', 'start', 'remove'] as const) {
    app.post(`/api/instances/:id/${action}`, { ...write, schema: { params: idParams, body: empty } }, async (request, reply) => {
      const { id } = request.params as { id: string };
      const known = state.instance(id) !== undefined || launcher.inventory?.instances.some((i) => i.id === id);
      if (!known && launcher.available) return reply.code(404).send({ error: 'no_such_instance', message: `no instance ${id}` });
      if (action === 'remove') {
        if (!launcher.available) return ask({ action: 'remove-instance', instance: id }, reply);
        if ((launcher.inventory?.instances.length ?? 0) <= 1) return reply.code(409).send({ error: 'lab_action_failed', message: 'the last instance cannot be removed' });
        // Out of the rotation first, then the launcher stops the process: no request is sent to a dying instance.
        removeInstance(lab, id);
      }
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
      monitor.markPaused(Date.now() + seconds * 1000);
      monitor.note(`Redis paused for ${seconds} s (CLIENT PAUSE ALL): every client waits, no data is lost`);
      monitor.mark('redis', `Redis paused ${seconds} s`);
      monitor.poke();
      return { pausedForSeconds: seconds, message: `Redis paused for ${seconds} s` };
    },
  );

  app.post('/api/redis/flush', { ...write, schema: { body: empty } }, async (_request, reply) => {
    const client = needRedis(reply);
    if (!client) return reply;
    try {
      const deleted = await client.flush();
      monitor.note(`Redis flushed: ${deleted} session key(s) under ${client.keyPrefix} deleted, so every Redis session is gone`);
      monitor.mark('redis', 'Redis flushed');
      monitor.poke();
      return { deleted, message: `${deleted} session key(s) deleted from Redis` };
    } catch (err) {
      return reply.code(503).send({ error: 'redis_unavailable', message: `Redis did not answer the flush: ${(err as Error).message}` });
    }
  });

  // Open event streams would keep the server from closing.
  app.addHook('preClose', async () => streams.close());
}
