import type { FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import type { AppConfig } from '../config.js';
import type { SessionStore } from '../stores/types.js';

/** Why a request is not logged in: the same words on every route, so a 401 can be acted on. */
export type LoggedOutReason = 'no_cookie' | 'bad_signature' | 'unknown_session' | 'expired' | 'revoked';

/**
 * The one "require a session" check, as a preHandler for every route that needs a login.
 * It answers 401 with a reason (no cookie, bad signature, unknown session, expired) and lets
 * the handler run only with a live login: request.session.user and loginAt are then set.
 */
export function requireLogin(config: AppConfig, store: SessionStore): preHandlerAsyncHookHandler {
  const id = config.instanceId;

  function refuse(reply: FastifyReply, reason: LoggedOutReason, message: string) {
    return reply.code(401).send({ error: 'not_logged_in', reason, message, servedBy: id });
  }

  return async function (request: FastifyRequest, reply: FastifyReply) {
    const { user, loginAt } = request.session;
    if (user && loginAt !== undefined && Date.now() - loginAt <= config.sessionAbsoluteSeconds * 1000) return;
    if (user) {
      // A live session with an old login: end it, so the store forgets it now rather than at its TTL.
      await request.session.destroy();
      return refuse(reply, 'expired', `this login is older than ${config.sessionAbsoluteSeconds}s (absolute timeout): log in again`);
    }
    // Stateless mode: the card knows why it was refused (tampered, expired, revoked).
    const sealed = request.sealedSession;
    if (sealed?.refusal) return refuse(reply, sealed.refusal.reason, sealed.refusal.message);
    if (sealed) return refuse(reply, 'no_cookie', 'this card holds no login: log in first (POST /login)');
    const raw = request.cookies[config.cookieName];
    if (!raw) return refuse(reply, 'no_cookie', 'no session cookie: log in first (POST /login)');
    if (!request.unsignCookie(raw).valid) {
      return refuse(
        reply,
        'bad_signature',
        'the session cookie signature is invalid (tampered with, or signed with another secret): log in again',
      );
    }
    return refuse(
      reply,
      'unknown_session',
      store.kind === 'memory'
        ? `this session is not in the memory store of ${id}: each instance keeps its own logbook, so a session created on another instance (or expired, or logged out) is unknown here`
        : `this session is not in the shared ${store.kind} store: it expired or was logged out; log in again`,
    );
  };
}
