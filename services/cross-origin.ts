import type { FastifyReply, FastifyRequest } from 'fastify';

/** Methods that change nothing: a page on another origin may send them, as a link or an image would. */
const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Refuses a state-changing request that a browser sent from another origin. SameSite=Lax does
 * not cover it: another port on this host, or a sibling subdomain, is the SAME site, so its
 * page's `fetch(..., {mode: 'no-cors', credentials: 'include'})` or `navigator.sendBeacon`
 * carries the cookie, and a POST /logout with no body needs no preflight. Browsers say where a
 * request comes from in `Sec-Fetch-Site` and `Origin`, and a page cannot forge either.
 * Clients that send neither (curl, httpx, the lesson's tests) are not browsers acting for
 * someone else, and keep working.
 *
 * Here in the instance, not in the balancer: the instance knows which routes change state, and
 * it protects them whoever forwards to it (docker compose, a second balancer, a test calling it
 * directly). Its own origin is what the client used: the balancer's X-Forwarded-Proto and
 * X-Forwarded-Host, believed from the balancer only (trustProxy), or the Host header.
 */
export function refuseCrossOrigin(instanceId: string) {
  return async function (request: FastifyRequest, reply: FastifyReply) {
    if (SAFE.has(request.method)) return;
    const site = request.headers['sec-fetch-site'];
    if (site !== undefined && site !== 'same-origin' && site !== 'none') {
      return refuse(reply, instanceId, `this ${request.method} was sent by a page on another origin (Sec-Fetch-Site: ${String(site).slice(0, 20)})`);
    }
    const origin = request.headers.origin;
    if (origin === undefined) return;
    const own = `${request.protocol}://${request.host}`;
    if (origin.toLowerCase() !== own.toLowerCase()) {
      return refuse(reply, instanceId, `this ${request.method} was sent by a page on ${JSON.stringify(origin.slice(0, 100))}, not on ${own}`);
    }
  };
}

function refuse(reply: FastifyReply, instanceId: string, why: string) {
  return reply.code(403).send({
    error: 'cross_origin_request',
    message: `${why}: state-changing requests are accepted from the lab's own pages only (or from clients that send no Origin, like curl)`,
    servedBy: instanceId,
  });
}
