import type { FastifyReply, FastifyRequest } from 'fastify';
import { ConfigError, list } from '../../services/vocabulary.js';

/** The names a loopback-bound admin server is always served under. */
export const LOOPBACK_HOSTS: readonly string[] = ['localhost', '127.0.0.1', '[::1]'];

// A host name (letters, digits, dots, dashes) or a bracketed IPv6 address; no port, no path.
const HOST_NAME = /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*|\[[0-9a-f:.]+\])$/;

/**
 * ADMIN_ALLOWED_HOSTS="lab.internal,10.0.0.5": names the admin server may also be reached under,
 * on top of the loopback names. Names only (any port), so a published port can differ.
 */
export function allowedAdminHosts(raw: string | undefined): string[] {
  const extra = list(raw).map((name) => name.toLowerCase());
  for (const name of extra) {
    if (!HOST_NAME.test(name)) {
      throw new ConfigError(`ADMIN_ALLOWED_HOSTS: "${name}" is not a host name (give names without scheme or port, IPv6 in brackets: lab.internal,10.0.0.5,[fd00::5])`);
    }
  }
  return [...new Set([...LOOPBACK_HOSTS, ...extra])];
}

/** "Localhost:8081" -> "localhost", "[::1]:8081" -> "[::1]"; null when it is not a host[:port]. */
export function hostName(hostHeader: string): string | null {
  const match = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::\d{1,5})?$/.exec(hostHeader.trim().toLowerCase());
  return match ? match[1]!.replace(/\.$/, '') : null;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * DNS rebinding: a page on evil.example whose name then resolves to 127.0.0.1 is same-origin with
 * the admin port, so the browser sends it JSON without a preflight and reads the answers. Binding
 * to loopback and demanding JSON do not stop that; only the Host header tells. So every request
 * must name one of the allowed hosts (webpack-dev-server's allowedHosts, Vite's
 * server.allowedHosts), and every write that carries an Origin (browsers always send one) must
 * come from this very origin. No Origin (curl, the launcher, the healthcheck) is fine: those are
 * not browsers a page can drive.
 */
export function hostGuard(allowed: readonly string[]) {
  const names = new Set(allowed);
  const howToAllow = `the admin server answers only under ${[...names].join(', ')}; to reach it under another name on purpose, add that name to ADMIN_ALLOWED_HOSTS (comma-separated) on the balancer`;
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const host = request.headers.host ?? '';
    const name = hostName(host);
    if (name === null || !names.has(name)) {
      return reply.code(421).send({ error: 'host_not_allowed', message: `Host "${host}" is not allowed: ${howToAllow}` });
    }
    if (SAFE_METHODS.has(request.method)) return;
    const origin = request.headers.origin;
    if (origin === undefined) return;
    if (!sameOrigin(origin, host)) {
      return reply.code(403).send({
        error: 'origin_not_allowed',
        message: `Origin "${origin}" may not change the lab: admin writes come from the admin page itself (http://${host}) or from a client that sends no Origin; ${howToAllow}`,
      });
    }
  };
}

function sameOrigin(origin: string, host: string): boolean {
  try {
    const parsed = new URL(origin);
    return (parsed.protocol === 'http:' || parsed.protocol === 'https:') && parsed.host === new URL(`http://${host}`).host;
  } catch {
    return false; // "null" (a sandboxed frame, a file:// page), garbage, a port out of range
  }
}
