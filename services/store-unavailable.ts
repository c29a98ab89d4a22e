import type { FastifyReply } from 'fastify';

/**
 * The answer when the session store (or stateless mode's revocation list) does not answer: 503 with
 * Retry-After, and the cookie kept, so the user is back as soon as the store is. Sets the status and
 * headers; returns the body, for the error handler to send or an onSend hook to return.
 */
export function storeUnavailable(reply: FastifyReply, instanceId: string): { error: string; message: string; servedBy: string } {
  reply.code(503).header('retry-after', '1');
  return {
    error: 'store_unavailable',
    message: 'the session store is not answering; your session cookie is kept, try again in a few seconds',
    servedBy: instanceId,
  };
}
