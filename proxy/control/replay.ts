import type { FastifyInstance } from 'fastify';
import type { ControlContext } from './context.js';

const credentials = {
  body: {
    type: 'object',
    required: ['username', 'password'],
    additionalProperties: false,
    properties: { username: { type: 'string', minLength: 1, maxLength: 64 }, password: { type: 'string', minLength: 1, maxLength: 256 } },
  },
} as const;

interface Step {
  step: 'login' | 'logout' | 'replay';
  instance: string;
  status: number;
  reason?: string;
}

/**
 * POST /api/replay: the stolen-cookie demonstration in one click. Logs in on one instance, copies
 * the session cookie, logs out on the next, then replays the copy on the one after (each step on
 * another desk, as round robin would send them), and says whether the copy was still accepted.
 * In every mode with a logbook that forgot the session, it is refused; in pure stateless mode the
 * card is still valid; with a revocation list it is refused again.
 */
export function replayRoute(app: FastifyInstance, lab: ControlContext): void {
  app.post('/api/replay', { onRequest: lab.authorize, schema: credentials }, async (request, reply) => {
    const up = lab.view().instances.filter((i) => i.up);
    if (up.length === 0) return reply.code(503).send({ error: 'no_instance', message: 'no instance is up to replay against' });
    const at = (k: number) => up[k % up.length]!;
    const call = async (k: number, method: string, path: string, cookie?: string, body?: object) => {
      const response = await fetch(at(k).url + path, {
        method,
        headers: { ...(body && { 'content-type': 'application/json' }), ...(cookie && { cookie }) },
        ...(body && { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(5000),
      });
      const json = (await response.json().catch(() => ({}))) as { reason?: string; message?: string };
      return { response, json, step: { instance: at(k).id, status: response.status, ...(json.reason && { reason: json.reason }) } };
    };

    const login = await call(0, 'POST', '/login', undefined, request.body as object);
    const steps: Step[] = [{ step: 'login', ...login.step }];
    const copied = login.response.headers.getSetCookie().map((line) => line.split(';')[0]!).join('; ');
    if (login.response.status !== 200 || !copied) {
      return reply.code(409).send({ error: 'login_failed', message: `login on ${at(0).id} answered ${login.response.status}: ${login.json.message ?? ''}`, steps });
    }
    const logout = await call(1, 'POST', '/logout', copied);
    steps.push({ step: 'logout', ...logout.step });
    const replay = await call(2, 'GET', '/profile', copied);
    steps.push({ step: 'replay', ...replay.step });
    const accepted = replay.response.status === 200;
    return {
      mode: lab.state.mode,
      store: lab.state.store,
      accepted,
      steps,
      cookieBytes: Buffer.byteLength(copied),
      message: accepted
        ? `a cookie copied before logout (on ${at(1).id}) was ACCEPTED after it by ${at(2).id}: logout only cleared the browser's copy`
        : `a cookie copied before logout (on ${at(1).id}) was refused after it by ${at(2).id} (${replay.response.status} ${replay.json.reason ?? ''})`,
    };
  });
}
