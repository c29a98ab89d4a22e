import { randomBytes } from 'node:crypto';
import fastifyCookie from '@fastify/cookie';
import fastifySession from '@fastify/session';
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { AccountBook } from './accounts.js';
import type { AppConfig } from './config.js';
import { clearTossedCookies, cookieValues, HOST_PREFIX, readSessionCookie, writeSessionCookie } from './cookie-policy.js';
import { refuseCrossOrigin } from './cross-origin.js';
import { Drain } from './drain.js';
import { storeUnavailable } from './store-unavailable.js';
import { StoreUnavailableError } from './vocabulary.js';
import { forwardedProof } from './forwarded-proof.js';
import { instanceHealth } from './health.js';
import { SlowRequests } from './lab-slow.js';
import { authRoutes } from './routes/auth.js';
import { controlRoutes } from './routes/control.js';
import './session-types.js';
import { sealedSessions } from './sealed/plugin.js';
import { NO_REVOCATION, RedisRevocationList, type RevocationList } from './sealed/revocation.js';
import { memoryBacking, redisBacking, sealedBacking } from './stores/backings.js';
import { RaceGuard } from './stores/race-guard.js';
import { metaPrefix } from './stores/redis.js';
import { SwitchableStore } from './stores/switchable.js';

export interface BuildOptions {
  logger?: FastifyServerOptions['logger'];
  /** What /_control/crash does; main.ts passes a hard exit. */
  crash?: () => void;
  accounts?: AccountBook;
}

declare module 'fastify' {
  interface FastifyInstance {
    sessionStore: SwitchableStore;
    /** main.ts starts it on SIGTERM, before app.close(). */
    drain: Drain;
  }
}

/** One app instance: session plugin, stores and routes. Never listens: main.ts does. */
export async function buildApp(config: AppConfig, options: BuildOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger ?? false,
    // X-Forwarded-For/-Proto are believed from the balancer only (by address; with TRUST_PROXY_TOKEN
    // also by proof, see forwarded-proof.ts); anyone else could forge them.
    trustProxy: config.trustProxy.length > 0 ? config.trustProxy : false,
    bodyLimit: 16 * 1024,
    requestTimeout: 30_000,
    // Per-request log lines would cost more than the lookup itself under load.
    logController: new LogController({ disableRequestLogging: true }),
    // A request that arrives on a kept-alive connection while draining is still served: the balancer
    // already routed it here, and a 503 would reach the user.
    return503OnClosing: false,
    // Fastify's Ajv coerces types by default: {"username": 123} would become "123".
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false } },
  });

  const bootId = randomBytes(8).toString('hex');
  const accounts = options.accounts ?? AccountBook.fromFile(config.accountsFile);
  const redisUrl = config.redisUrl;
  // Opened with the sealed store, on first use: an instance that never goes stateless never connects for it.
  let revocation: RevocationList | undefined;
  const revocationList = (): RevocationList =>
    (revocation ??=
      config.revocation === 'redis' && redisUrl
        ? new RedisRevocationList(
            {
              url: redisUrl,
              autoPipelining: config.redisAutoPipelining,
              onError: (err) => app.log.warn({ err: err.message }, 'redis connection problem: stateless requests get 503 until the revocation list answers'),
              onRecover: () => app.log.info('revocation list answers again'),
            },
            `${metaPrefix(config.redisKeyPrefix)}card:`,
            (config.sessionAbsoluteSeconds + config.sessionTtlSeconds) * 1000,
          )
        : NO_REVOCATION);
  const guard = new RaceGuard(config.raceGuard);
  const store = new SwitchableStore(
    {
      memory: () => memoryBacking(config.sessionTtlSeconds, config.sweepIntervalMs, guard),
      ...(redisUrl && {
        redis: () =>
          redisBacking({
            url: redisUrl,
            keyPrefix: config.redisKeyPrefix,
            defaultTtlSeconds: config.sessionTtlSeconds,
            autoPipelining: config.redisAutoPipelining,
            waitReplicas: config.redisWaitReplicas,
            waitMs: config.redisWaitMs,
            onError: (err) => app.log.warn({ err: err.message }, 'redis connection problem: requests needing the store get 503 until it answers'),
            onRecover: () => app.log.info('redis answers again'),
          }, guard),
      }),
      sealed: () => sealedBacking(revocationList(), config.sweepIntervalMs),
    },
    config.store,
    config.sessionTtlSeconds,
    config.sessionMaxPerUser,
    guard,
  );
  // Before every other hook: what X-Forwarded-* says must be settled before anyone reads request.ip.
  if (config.trustProxyToken) app.addHook('onRequest', forwardedProof(config.trustProxyToken));
  app.decorate('sessionStore', store);
  const drain = new Drain();
  app.decorate('drain', drain);
  // While draining or closing, every answer asks its client to drop the kept-alive connection, so
  // nothing new arrives on it once the server closes (that would be a 503 "closing"). Decided when
  // the answer is sent, not when the request came: a request already in flight when close() began
  // would otherwise leave an idle kept-alive socket that close() waits for (up to keepAliveTimeout).
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (drain.draining || closing) reply.header('connection', 'close');
    done(null, payload);
  });
  app.addHook('onClose', () => store.close());

  app.addHook('onRequest', (_request, reply, done) => {
    // Every response names its instance, so the round robin is visible with curl alone.
    reply.header('x-served-by', config.instanceId);
    // Every answer is about a session (a cookie, a user, a cart) or this instance's live state:
    // none may be kept by a browser or a shared cache and shown to the next person.
    reply.header('cache-control', 'no-store');
    // JSON is JSON: no browser may guess otherwise and run an answer as a script or a page.
    reply.header('x-content-type-options', 'nosniff');
    done();
  });
  app.addHook('onRequest', refuseCrossOrigin(config.instanceId));

  // JSON only: a form or text/plain body gets 415, which also closes the login-CSRF door
  // (a cross-site form cannot send application/json without a CORS preflight).
  app.removeContentTypeParser(['text/plain']);

  await app.register(fastifyCookie, { secret: config.sessionSecrets });
  // Two session cookies in one request (cookie tossing: a page on another port of this host set
  // `sid` at a longer path, which the browser sends first) are ambiguous. Acting on the first
  // would make the victim browse as the attacker, and a write would re-issue the attacker's
  // cookie at Path=/. So neither counts: login goes ahead as a fresh visitor (it issues a new
  // session anyway), every other route gets 400 saying what to clear, and the copies that can
  // be told apart from ours (any path but `/`) are deleted in the same answer.
  app.addHook('onRequest', async (request, reply) => {
    const https = request.protocol === 'https';
    const name = https ? HOST_PREFIX + config.cookieName : config.cookieName;
    const count = cookieValues(request.headers.cookie, name).length;
    if (count < 2) return;
    const path = request.url.split('?')[0]!;
    if (!https) reply.header('set-cookie', clearTossedCookies(config.cookieName, path));
    if (request.method === 'POST' && path === '/login') {
      delete request.cookies[config.cookieName];
      delete request.cookies[HOST_PREFIX + config.cookieName];
      return;
    }
    return reply.code(400).send({
      error: 'ambiguous_session_cookie',
      message:
        `this request carries ${count} "${name}" cookies, and only one can be yours: another page on this host ` +
        `(another port, or a sibling subdomain) may have set one. Copies at paths other than "/" were deleted with this ` +
        `answer; if this persists, clear this site's cookies, then log in again`,
      servedBy: config.instanceId,
    });
  });
  // Between cookie parsing and the session lookup: over HTTPS the session lives in `__Host-<name>`.
  app.addHook('onRequest', (request, _reply, done) => {
    readSessionCookie(request.cookies, config.cookieName, request.protocol === 'https');
    done();
  });
  await app.register(fastifySession, {
    secret: config.sessionSecrets,
    cookieName: config.cookieName,
    store,
    // Default true: every anonymous request (a health probe, a bot) would write a session.
    saveUninitialized: false,
    // Default true: every lookup would also write the session back and re-send the cookie,
    // doubling store traffic. The idle timeout counts from the last write instead.
    // SESSION_ROLLING=true turns it back on, so the bench can show what it costs.
    rolling: config.sessionRolling,
    cookie: {
      // Default true: over plain HTTP the browser would never get the cookie. Not 'auto'
      // either: it forces SameSite=Lax over HTTP, so COOKIE_SAMESITE=strict would be ignored.
      // Secure (and the __Host- name) are added per request in the onSend hook below.
      secure: false,
      httpOnly: true,
      sameSite: config.sameSite,
      path: '/',
      maxAge: config.sessionTtlSeconds * 1000,
    },
  });
  // Beside @fastify/session, before the cookie rewriting below: the card goes on the wire as the wristband does.
  await sealedSessions(app, config, store, revocationList);

  // The session cookie as it goes on the wire, once the session plugin has written Set-Cookie.
  // 1. @fastify/session clears a cookie whose session it cannot find. With per-instance
  //    stores that throws away a wristband another instance still honours, turning one
  //    unlucky request into a permanent logout. express-session keeps it; so do we.
  //    Logout (request.session === null after destroy) still clears it.
  // 2. Over HTTPS it becomes `__Host-<name>` with Secure (services/cookie-policy.ts).
  app.addHook('onSend', (request, reply, payload, done) => {
    const header = reply.getHeader('set-cookie');
    if (header !== undefined) {
      let lines = Array.isArray(header) ? header.map(String) : [String(header)];
      const count = lines.length;
      // Only the plugin's own clearing (Path=/): the deletions of tossed copies at other paths stay.
      if (request.session !== null) lines = lines.filter((line) => !(line.startsWith(`${config.cookieName}=;`) && /;\s*path=\/(;|$)/i.test(line)));
      const https = request.protocol === 'https';
      if (https || lines.length !== count) {
        // reply.header() appends to set-cookie instead of replacing it.
        reply.removeHeader('set-cookie');
        if (lines.length > 0) reply.header('set-cookie', writeSessionCookie(lines, config.cookieName, https));
      }
    }
    done(null, payload);
  });

  // A store outage fails every request that needs it: one warning per outage-sized gap, not per request.
  let lastStoreWarning = 0;
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof StoreUnavailableError) {
      const now = Date.now();
      if (now - lastStoreWarning > 5000) request.log.warn({ err: error.message }, 'session store unavailable: answering 503 with Retry-After');
      else request.log.debug({ err: error.message }, 'session store unavailable');
      lastStoreWarning = now;
      return reply.send(storeUnavailable(reply, config.instanceId));
    }
    const status = error.statusCode ?? 500;
    if (status >= 500) {
      request.log.error({ err: error }, 'request failed');
      return reply.code(status).send({ error: 'internal_error', message: 'internal error; details are in the instance log', servedBy: config.instanceId });
    }
    const known = error.validation
      ? { error: 'invalid_body', message: `invalid request body: ${error.message}` }
      : (CLIENT_ERRORS[error.code] ?? { error: 'bad_request', message: error.message });
    return reply.code(status).send({ ...known, servedBy: config.instanceId });
  });

  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({
      error: 'not_found',
      message: `no route ${request.method} ${request.url}; try POST /login, GET /profile, POST /logout`,
      servedBy: config.instanceId,
    }),
  );

  // Public, for the balancer's health check: what it routes by, nothing about the process
  // (its pid and heap are for the operator: GET /_control/health).
  app.get('/health', async (_request, reply) => {
    // 503 tells the balancer's health check to stop choosing this instance before it closes.
    if (drain.probed()) return reply.code(503).send({ instance: config.instanceId, status: 'draining' });
    return instanceHealth(config.instanceId, bootId, store);
  });

  const slow = new SlowRequests(config.labSlowMaxMs);
  authRoutes(app, config, accounts, store, revocationList, slow);
  if (config.controlToken) {
    controlRoutes(app, config.controlToken, { ...config, bootId }, store, options.crash ?? (() => process.exit(1)), slow);
  }
  return app;
}

/** Fastify's client-error codes, said in words a workshop participant can act on. */
const CLIENT_ERRORS: Record<string, { error: string; message: string }> = {
  FST_ERR_CTP_INVALID_JSON_BODY: {
    error: 'invalid_json',
    message: 'the body is not valid JSON (keys like __proto__ are refused too); send {"username": "...", "password": "..."}',
  },
  FST_ERR_CTP_EMPTY_JSON_BODY: { error: 'invalid_json', message: 'the body is empty; send a JSON object' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    error: 'unsupported_media_type',
    message: 'send JSON with the header content-type: application/json',
  },
  FST_ERR_CTP_BODY_TOO_LARGE: { error: 'body_too_large', message: 'the body is larger than 16 KiB' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { error: 'bad_request', message: 'content-length does not match the body' },
  COATCHECK_SESSION_ENDED: {
    error: 'not_logged_in',
    message: 'this session was logged out while the request was running: nothing was written; log in again',
  },
};

