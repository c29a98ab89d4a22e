import { createRequire } from 'node:module';
import type { FastifyInstance, FastifyPluginCallback, FastifyReply, FastifyRequest } from 'fastify';
import type { AppConfig } from '../config.js';
import { HOST_PREFIX } from '../cookie-policy.js';
import { storeUnavailable } from '../store-unavailable.js';
import { StoreUnavailableError } from '../vocabulary.js';
import type { SwitchableStore } from '../stores/switchable.js';
import { SealedSession, type SecureSessionData } from './card.js';
import type { RevocationList } from './revocation.js';

// Loaded without its type declarations: they declare `request.session` as secure-session's own,
// which would clash with @fastify/session's. The card lives on `request.card` (its sessionName).
const secureSession = createRequire(import.meta.url)('@fastify/secure-session') as FastifyPluginCallback<Record<string, unknown>>;
const CARD = 'card';

declare module 'fastify' {
  interface FastifyInstance {
    encodeSecureSession(session: SecureSessionData, sessionName?: string): string;
    createSecureSession(data?: Record<string, unknown>): SecureSessionData;
  }
  interface FastifyRequest {
    /** What secure-session decoded from the session cookie (stateless mode). */
    card: SecureSessionData | null;
    /** The card as the lesson's routes see it, kept after logout sets request.session to null. */
    sealedSession: SealedSession | null;
  }
}

/** Bytes of the session cookie as the browser sends it back: `name=value`, value URI-encoded. */
function cookieBytes(name: string, raw: string | undefined): number {
  return raw === undefined ? 0 : Buffer.byteLength(`${name}=${encodeURIComponent(raw)}`);
}

/**
 * Stateless mode: the session is a card sealed (encrypted and authenticated) with
 * @fastify/secure-session and carried in the same cookie as the wristband of the other modes, so
 * every instance can read it and none has to remember it. Registered beside @fastify/session,
 * after it: while the store kind is `sealed`, `request.session` is the card seen through the same
 * API (services/sealed/card.ts), and @fastify/session, which finds no wristband of its own, stays idle.
 */
export async function sealedSessions(app: FastifyInstance, config: AppConfig, store: SwitchableStore, revocation: () => RevocationList): Promise<void> {
  const name = config.cookieName;
  const cookie = { path: '/', httpOnly: true, sameSite: config.sameSite, secure: false, maxAge: config.sessionTtlSeconds };
  const rules = () => ({ revocation: revocation(), idleSeconds: config.sessionTtlSeconds, absoluteSeconds: config.sessionAbsoluteSeconds });

  // Before secure-session's own onSend, which then only has deletions (logout) left to write.
  app.addHook('onSend', async (request, reply, payload) => {
    const session = request.sealedSession;
    if (!session) return payload;
    const card = session.sealed;
    const received = cookieBytes(name, request.cookies[name]);
    if (card.deleted || !card.changed) {
      if (!card.deleted) reply.header('x-session-cookie-bytes', String(received));
      return payload;
    }
    try {
      await session.readGeneration();
    } catch (err) {
      // Errors thrown in onSend skip the error handler: answer as it would, and send no card.
      if (!(err instanceof StoreUnavailableError)) throw err;
      request.log.warn({ err: err.message }, 'revocation list unavailable at login: answering 503');
      card.changed = false;
      return JSON.stringify(storeUnavailable(reply, config.instanceId));
    }
    // Sealed here, not by secure-session's onSend, so its size can be checked first. Also a card
    // opened with an older key is marked changed: it is sealed again with the first one (rotation).
    card.changed = false;
    const value = app.encodeSecureSession(card, CARD);
    const https = request.protocol === 'https';
    const line = app.serializeCookie(https ? HOST_PREFIX + name : name, value, { ...cookie, secure: https });
    const bytes = Buffer.byteLength(line);
    if (bytes > config.sealedCookieMaxBytes) return tooLarge(reply, request, bytes, received);
    reply.setCookie(name, value, cookie);
    reply.header('x-session-cookie-bytes', String(cookieBytes(name, value)));
    return payload;
  });

  // A cookie over the limit is not refused by the server but silently dropped by the browser: the
  // user would be logged out, or keep a stale cart, with no error anywhere. Say it instead.
  function tooLarge(reply: FastifyReply, request: FastifyRequest, bytes: number, received: number): string {
    request.log.warn({ bytes, limit: config.sealedCookieMaxBytes }, 'sealed session too large for a cookie: not sent');
    reply.code(413).header('content-type', 'application/json; charset=utf-8').header('x-session-cookie-bytes', String(received));
    return JSON.stringify({
      error: 'session_too_large',
      message:
        `this change would make the session cookie ${bytes} bytes; browsers keep at most ${config.sealedCookieMaxBytes} per cookie ` +
        'and silently drop a larger one. Nothing was changed: the card you hold is still valid. In stateless mode everything ' +
        'the session holds travels in the cookie on every request; keep it small, or keep a logbook (redis mode)',
      servedBy: config.instanceId,
    });
  }

  await app.register(secureSession, {
    sessionName: CARD,
    cookieName: name,
    key: config.sealKeys,
    // The idle timeout is checked in card.ts, where it can be told apart from a tampered card
    // (an expired card is otherwise just "unreadable"); this only bounds a card nobody refreshed.
    expiry: config.sessionTtlSeconds + config.sessionAbsoluteSeconds,
    cookie,
  });

  app.decorateRequest('sealedSession', null);
  app.addHook('onRequest', async (request) => {
    const decoded = request.card;
    // Nothing secure-session decoded is written back unless the card below says so (a card
    // opened with an old key is marked changed; in another mode, or refused, it must stay unsent).
    request.card = null;
    if (store.kind !== 'sealed' || !decoded) return;
    const session = await SealedSession.open(request, request.cookies[name], decoded, () => app.createSecureSession({}), rules());
    request.card = session.sealed;
    request.sealedSession = session;
    // The routes read request.session: here it is the card. @fastify/session's own onSend
    // ignores it (it has no wristband id), so only the card is written.
    (request as { session: unknown }).session = session;
  });
}
