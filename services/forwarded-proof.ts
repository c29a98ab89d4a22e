import { timingSafeEqual } from 'node:crypto';
import type { onRequestHookHandler } from 'fastify';
import { PROXY_TOKEN_HEADER } from './vocabulary.js';


const FORWARDED = ['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port'] as const;

/**
 * TRUST_PROXY names the balancer by its address, but on a shared machine every local process
 * has that address (127.0.0.1): one that talks to an instance's port directly could write its
 * own X-Forwarded-For and get a fresh login-throttle count per forged address. With
 * TRUST_PROXY_TOKEN set, X-Forwarded-* are believed only from a request that also carries the
 * token, which only the balancer knows; otherwise they are dropped before anything reads
 * request.ip or request.protocol (Fastify computes both lazily from these headers).
 * The token header itself is always removed, so no route or log ever sees it.
 */
export function forwardedProof(token: string): onRequestHookHandler {
  const expected = Buffer.from(token);
  return (request, _reply, done) => {
    const given = request.headers[PROXY_TOKEN_HEADER];
    const proof = Buffer.from(typeof given === 'string' ? given : '');
    delete request.headers[PROXY_TOKEN_HEADER];
    if (proof.length !== expected.length || !timingSafeEqual(proof, expected)) {
      for (const name of FORWARDED) delete request.headers[name];
    }
    done();
  };
}
