import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { FastifySessionObject } from '@fastify/session';
import type { AccountBook } from '../accounts.js';
import type { AppConfig } from '../config.js';
import { LoginThrottle } from '../login-throttle.js';
import type { LabStore } from '../stores/types.js';

const credentials = {
  type: 'object',
  required: ['username', 'password'],
  additionalProperties: false,
  properties: {
    username: { type: 'string', minLength: 1, maxLength: 64 },
    password: { type: 'string', minLength: 1, maxLength: 256 },
  },
} as const;

const cartItem = {
  type: 'object',
  required: ['item'],
  additionalProperties: false,
  properties: { item: { type: 'string', minLength: 1, maxLength: 64 } },
} as const;

const CART_LIMIT = 20;

type Why = { reason: 'no_cookie' | 'bad_signature' | 'unknown_session' | 'expired'; message: string };

/**
 * The lesson API: POST /login, GET /profile, POST /logout (+ a small cart, so
 * virtual users also write to their session).
 */
export function authRoutes(app: FastifyInstance, config: AppConfig, accounts: AccountBook, store: LabStore): void {
  const id = config.instanceId;
  const throttle = new LoginThrottle(store, {
    perAccount: config.loginMaxFailures,
    perAddress: config.loginMaxFailuresPerIp,
    windowSeconds: config.loginWindowSeconds,
  });

  /** A 401 that says why, so the lost session is visible rather than mysterious. */
  function whyLoggedOut(request: FastifyRequest): Why {
    const raw = request.cookies[config.cookieName];
    if (!raw) return { reason: 'no_cookie', message: 'no session cookie: log in first (POST /login)' };
    if (!request.unsignCookie(raw).valid) {
      return {
        reason: 'bad_signature',
        message: 'the session cookie signature is invalid (tampered with, or signed with another secret): log in again',
      };
    }
    return {
      reason: 'unknown_session',
      message:
        store.kind === 'memory'
          ? `this session is not in the memory store of ${id}: each instance keeps its own logbook, so a session created on another instance (or expired, or logged out) is unknown here`
          : `this session is not in the shared ${store.kind} store: it expired or was logged out; log in again`,
    };
  }

  function loginExpired(loginAt: number | undefined): boolean {
    return loginAt === undefined || Date.now() - loginAt > config.sessionAbsoluteSeconds * 1000;
  }

  // Without rolling, the store TTL would count from login, not from the last visit: an
  // active user would be logged out mid-task. Writing on every read doubles store traffic,
  // so the session is refreshed only once half of its idle time is spent.
  function keepAlive(session: FastifySessionObject): void {
    if (config.sessionRolling) return;
    // On load the plugin recomputes cookie.expires as now + maxAge; the stored expiry is originalExpires.
    const { originalExpires } = session.cookie as { originalExpires?: Date | string };
    const left = originalExpires ? new Date(originalExpires).getTime() - Date.now() : 0;
    if (left < (config.sessionTtlSeconds * 1000) / 2) {
      session.touch();
      session.refreshedAt = Date.now();
    }
  }

  app.post('/login', { schema: { body: credentials } }, async (request, reply) => {
    const { username, password } = request.body as { username: string; password: string };
    const throttled = await throttle.check(username, request.ip);
    if (throttled.blocked) {
      return reply
        .code(429)
        .header('retry-after', String(throttled.retryAfterSeconds))
        .send({
          error: 'too_many_attempts',
          message: `too many failed logins for this account or address; try again in ${throttled.retryAfterSeconds}s`,
          servedBy: id,
        });
    }
    const user = await accounts.authenticate(username, password);
    if (!user) {
      await throttle.failed(username, request.ip);
      // One answer for unknown user and wrong password: never reveal which accounts exist.
      return reply.code(401).send({ error: 'invalid_credentials', message: 'wrong username or password', servedBy: id });
    }
    await throttle.succeeded(username);
    // A new session ID at login, so an ID planted before login (session fixation) never becomes a logged-in one.
    await request.session.regenerate();
    const loginAt = Date.now();
    request.session.user = user;
    request.session.loginAt = loginAt;
    request.session.createdBy = id;
    request.session.cart = [];
    await store.trackLogin(user.username, request.session.sessionId, config.sessionTtlSeconds);
    return { user, loginAt: new Date(loginAt).toISOString(), createdBy: id, servedBy: id };
  });

  app.get('/profile', async (request, reply) => {
    reply.header('cache-control', 'no-store');
    const { user, loginAt } = request.session;
    if (!user) return reply.code(401).send({ error: 'not_logged_in', ...whyLoggedOut(request), servedBy: id });
    if (loginExpired(loginAt)) {
      await request.session.destroy();
      return reply.code(401).send({
        error: 'not_logged_in',
        reason: 'expired',
        message: `this login is older than ${config.sessionAbsoluteSeconds}s (absolute timeout): log in again`,
        servedBy: id,
      });
    }
    keepAlive(request.session);
    return {
      username: user.username,
      displayName: user.displayName,
      loginAt: new Date(loginAt!).toISOString(),
      createdBy: request.session.createdBy,
      cart: request.session.cart ?? [],
      servedBy: id,
    };
  });

  app.post('/cart', { schema: { body: cartItem } }, async (request, reply) => {
    const { user, loginAt } = request.session;
    if (!user || loginExpired(loginAt)) {
      return reply.code(401).send({ error: 'not_logged_in', ...whyLoggedOut(request), servedBy: id });
    }
    const { item } = request.body as { item: string };
    keepAlive(request.session);
    request.session.cart = [...(request.session.cart ?? []), item].slice(-CART_LIMIT);
    return { cart: request.session.cart, servedBy: id };
  });

  app.post('/logout', async (request, reply) => {
    const wasLoggedIn = Boolean(request.session.user);
    // Destroy server-side, so a copy of the old cookie is dead on every instance that shares this store.
    if (request.cookies[config.cookieName]) await request.session.destroy();
    reply.clearCookie(config.cookieName, { path: '/' });
    return { loggedOut: wasLoggedIn, servedBy: id };
  });

  // "I left myself logged in at the library": end every session of this user, not just this one.
  app.post('/logout/everywhere', async (request, reply) => {
    const { user, loginAt } = request.session;
    if (!user || loginExpired(loginAt)) {
      return reply.code(401).send({ error: 'not_logged_in', ...whyLoggedOut(request), servedBy: id });
    }
    const ended = await store.destroyUser(user.username);
    await request.session.destroy();
    reply.clearCookie(config.cookieName, { path: '/' });
    return {
      loggedOut: true,
      sessionsEnded: ended,
      scope: store.kind === 'memory' ? 'instance' : 'everywhere',
      message:
        store.kind === 'memory'
          ? `ended ${ended} session(s) in the memory store of ${id} only: sessions this user holds on other instances live on (each instance has its own logbook)`
          : `ended ${ended} session(s) in the shared ${store.kind} store: every instance now refuses them`,
      servedBy: id,
    };
  });
}
