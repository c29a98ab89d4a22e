import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DASHBOARD_DIR, PAGE_CSP, loadFiles } from '../static-files.js';
import type { ControlContext } from './context.js';
import { LabActionError, LauncherUnavailableError } from './launcher-link.js';

/**
 * The Sentinel block of the dashboard: its script, and the one control it offers (kill the
 * primary). The topology itself is in GET /api/state (redisTopology). Killing is the launcher's
 * job (it owns the redis-server processes and restarts the dead one as a replica after the
 * failover); under docker compose, `docker compose kill` the primary's container instead.
 */
export function topologyRoutes(app: FastifyInstance, lab: ControlContext): void {
  const script = loadFiles(DASHBOARD_DIR, ['redis-topology.js']).get('redis-topology.js')!;
  app.get('/redis-topology.js', async (_request, reply) =>
    reply
      .header('content-type', script.type)
      .header('cache-control', 'no-cache')
      .header('x-content-type-options', 'nosniff')
      .header('content-security-policy', PAGE_CSP)
      .send(script.body),
  );

  // JSON only, as every dashboard control: a cross-site form cannot send it without a preflight (CSRF).
  const json = async (request: FastifyRequest, reply: FastifyReply) => {
    if (!String(request.headers['content-type'] ?? '').startsWith('application/json')) {
      return reply.code(415).send({ error: 'unsupported_media_type', message: 'send a JSON body ({} is fine) with content-type: application/json' });
    }
  };
  app.post('/api/redis/kill-primary', { onRequest: lab.authorize, preValidation: json }, async (_request, reply) => {
    try {
      const result = await lab.launcher.request({ action: 'kill-redis-primary' });
      lab.monitor.poke();
      return { ok: true, message: result.message };
    } catch (err) {
      if (err instanceof LauncherUnavailableError) return reply.code(501).send({ error: 'launcher_unavailable', message: err.message });
      if (err instanceof LabActionError) return reply.code(409).send({ error: 'lab_action_failed', message: err.message });
      throw err;
    }
  });
}
