import type { FastifyInstance } from 'fastify';
import type { FastifySessionObject } from '@fastify/session';
import { normalizeUsername, type AccountBook, type PublicUser } from '../accounts.js';
import { HashQueue, HashQueueFullError } from '../hash-queue.js';
import type { SlowRequests } from '../lab-slow.js';
import type { AppConfig } from '../config.js';
import type { SwitchableStore } from '../stores/switchable.js';
import { sealedLogoutEverywhere } from '../sealed/logout-everywhere.js';
import type { RevocationList } from '../sealed/revocation.js';
import { SessionEndedError } from '../stores/race-guard.js';
import { destroySession, getSession, ttlSeconds } from '../stores/types.js';
import { LoginThrottle } from '../throttle/login.js';
import { requireLogin } from './require-login.js';

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

// The lab's slow request (services/lab-slow.ts). A string: Ajv does not coerce query strings here.
const labDelay = {
  type: 'object',
  additionalProperties: false,
  properties: { delay: { type: 'string', pattern: '^[0-9]{1,5}$' } },
} as const;

// A response schema lets Fastify write the body with a serializer compiled for this shape
// (fast-json-stringify) instead of JSON.stringify. Every field is listed: one left out would
// silently vanish from the answer.
const profileReply = {
  200: {
    type: 'object',
    required: ['username', 'displayName', 'loginAt', 'createdBy', 'cart', 'servedBy'],
    additionalProperties: false,
    properties: {
      username: { type: 'string' },
      displayName: { type: 'string' },
      loginAt: { type: 'string' },
      createdBy: { type: 'string' },
      cart: { type: 'array', items: { type: 'string' } },
      servedBy: { type: 'string' },
    },
  },
} as const;

/**
 * The lesson API: POST /login, GET /profile, POST /logout (+ a small cart, so
 * virtual users also write to their session).
 */
export function authRoutes(
  app: FastifyInstance,
  config: AppConfig,
  accounts: AccountBook,
  store: SwitchableStore,
  revocation: () => RevocationList,
  slow: SlowRequests,
): void {
  const id = config.instanceId;
  const throttle = new LoginThrottle(() => store.attempts, {
    perAccountAndAddress: config.loginMaxFailures,
    perAddress: config.loginMaxFailuresPerIp,
    loginsPerAccount: config.loginMaxPerAccount,
    loginsPerAddress: config.loginMaxPerIp,
    windowSeconds: config.loginWindowSeconds,
  });
  const hashing = new HashQueue({
    concurrency: config.loginHashConcurrency,
    perKey: config.loginHashQueuePerAccount,
    waiting: config.loginHashQueueMax,
  });
  const loggedIn = { preHandler: requireLogin(config, store) };

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
    // Counted before the password is checked: a refused guess costs no scrypt and learns nothing.
    const verdict = await throttle.reserve(username, request.ip);
    if (!verdict.allowed) {
      return reply
        .code(429)
        .header('retry-after', String(verdict.retryAfterSeconds))
        .send({
          error: 'too_many_attempts',
          message:
            verdict.reason === 'failures'
              ? `too many failed logins from this address; try again in ${verdict.retryAfterSeconds}s`
              : `too many logins for this account or from this address; try again in ${verdict.retryAfterSeconds}s`,
          servedBy: id,
        });
    }
    let user: PublicUser | null;
    try {
      // One account's flood waits behind itself: the queue takes accounts in turn.
      user = await hashing.run(normalizeUsername(username), () => accounts.authenticate(username, password));
    } catch (err) {
      if (!(err instanceof HashQueueFullError)) throw err;
      await throttle.abandoned(verdict.ticket);
      return reply
        .code(err.scope === 'account' ? 429 : 503)
        .header('retry-after', '1')
        .send({
          error: err.scope === 'account' ? 'too_many_attempts' : 'busy',
          message:
            err.scope === 'account'
              ? 'too many logins for this account are already being checked; try again in a second'
              : 'this instance is checking too many passwords at once; try again in a second',
          servedBy: id,
        });
    }
    if (!user) {
      await throttle.failed(verdict.ticket);
      // One answer for unknown user and wrong password: never reveal which accounts exist.
      return reply.code(401).send({ error: 'invalid_credentials', message: 'wrong username or password', servedBy: id });
    }
    await throttle.succeeded(verdict.ticket);
    // A new session ID at login, so an ID planted before login (session fixation) never becomes a logged-in one.
    await request.session.regenerate();
    const loginAt = Date.now();
    request.session.user = user;
    request.session.loginAt = loginAt;
    request.session.createdBy = id;
    request.session.cart = [];
    return { user, loginAt: new Date(loginAt).toISOString(), createdBy: id, servedBy: id };
  });

  app.get('/profile', { ...loggedIn, schema: { response: profileReply } }, async (request) => {
    const { user, loginAt } = request.session;
    keepAlive(request.session);
    return {
      username: user!.username,
      displayName: user!.displayName,
      loginAt: new Date(loginAt!).toISOString(),
      createdBy: request.session.createdBy,
      // Guarded, the store loaded it from the cart's own structure; unguarded, it is the session's copy.
      cart: request.session.cart ?? [],
      servedBy: id,
    };
  });

  app.post('/cart', { ...loggedIn, schema: { body: cartItem, querystring: labDelay } }, async (request, reply) => {
    const { item } = request.body as { item: string };
    const { delay } = request.query as { delay?: string };
    if (delay !== undefined) {
      const refused = slow.refuse(Number(delay));
      if (refused) return reply.code(400).send({ error: 'delay_not_allowed', message: refused, servedBy: id });
      // A warning on purpose: it says this instance delays requests, and tests wait on the line.
      request.log.warn({ delayMs: Number(delay) }, 'lab slow request: holding this session');
      await slow.hold(Number(delay));
    }
    const carts = store.carts;
    if (store.guard.on && carts) {
      // One atomic step in the store, after the delay: a logout meanwhile left a tombstone it sees.
      const cart = await carts.add(request.session.sessionId, item, CART_LIMIT, ttlSeconds(request.session, config.sessionTtlSeconds));
      if (!cart) throw new SessionEndedError();
      keepAlive(request.session);
      return { cart, servedBy: id };
    }
    // Read, change, write back whole (when the response is sent): concurrent adds overwrite each other.
    keepAlive(request.session);
    request.session.cart = [...(request.session.cart ?? []), item].slice(-CART_LIMIT);
    return { cart: request.session.cart, servedBy: id };
  });

  app.post('/logout', async (request, reply) => {
    const wasLoggedIn = Boolean(request.session.user);
    // Destroy server-side, so a copy of the old cookie is dead on every instance that shares this store.
    const raw = request.cookies[config.cookieName];
    if (raw) {
      // By the cookie's own id, in every store this instance has opened: a session the active
      // store does not know (written before a store switch) must not outlive its logout. When the
      // active store found it, the plugin's destroy below ends that same id everywhere already.
      const signed = request.unsignCookie(raw);
      if (signed.valid && signed.value && signed.value !== request.session.sessionId) await destroySession(store, signed.value);
      await request.session.destroy();
    }
    reply.clearCookie(config.cookieName, { path: '/' });
    return { loggedOut: wasLoggedIn, servedBy: id };
  });

  // "I left myself logged in at the library": end every session of this user, not just this one.
  app.post('/logout/everywhere', loggedIn, async (request, reply) => {
    if (request.sealedSession) return sealedLogoutEverywhere(request.sealedSession, revocation(), config, reply);
    const { username } = request.session.user!;
    const ids = await store.users.take(username);
    // The index may name sessions already logged out or expired: count only those that still lived.
    const ended = await Promise.all(
      ids.map(async (sessionId) => {
        const session = await getSession(store, sessionId);
        if (session?.user?.username !== username) return 0;
        await destroySession(store, sessionId);
        return 1;
      }),
    );
    const count = ended.reduce<number>((sum, n) => sum + n, 0);
    await request.session.destroy();
    reply.clearCookie(config.cookieName, { path: '/' });
    return {
      loggedOut: true,
      sessionsEnded: count,
      scope: store.kind === 'memory' ? 'instance' : 'everywhere',
      message:
        store.kind === 'memory'
          ? `ended ${count} session(s) in the memory store of ${id} only: sessions this user holds on other instances live on (each instance has its own logbook)`
          : `ended ${count} session(s) in the shared ${store.kind} store: every instance now refuses them`,
      servedBy: id,
    };
  });
}
