import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AccountBook } from '../accounts.js';
import type { AppConfig } from '../config.js';
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

  app.post('/login', { schema: { body: credentials } }, async (request, reply) => {
    const { username, password } = request.body as { username: string; password: string };
    const user = await accounts.authenticate(username, password);
    if (!user) {
      // One answer for unknown user and wrong password: never reveal which accounts exist.
      return reply.code(401).send({ error: 'invalid_credentials', message: 'wrong username or password', servedBy: id });
    }
    // A new session ID at login, so an ID planted before login (session fixation) never becomes a logged-in one.
    await request.session.regenerate();
    const loginAt = Date.now();
    request.session.user = user;
    request.session.loginAt = loginAt;
    request.session.createdBy = id;
    request.session.cart = [];
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
}
