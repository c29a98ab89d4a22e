import type { EventEmitter } from 'node:events';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { BalancerConfig } from '../config.js';
import { PROXY_TOKEN_HEADER } from '../../services/vocabulary.js';
import { clearTossedCookies, cookieValues, HOST_PREFIX } from '../../services/cookie-policy.js';
import { cleanRequestHeaders, cleanResponseHeaders } from './headers.js';
import { httpProxy } from './http-proxy.js';
import type { Pool, PoolBackend } from './pool.js';
import type { Strategy } from './strategies.js';
import { canonicalTarget } from './target.js';

export interface BalancerStats {
  requests: number;
  retries: number;
  /** Answers the balancer itself gave because no instance could: 502, 503, 504. */
  failed: number;
}

export type Logger = Pick<Console, 'debug' | 'info' | 'warn' | 'error'>;

/** One answer an instance gave through the balancer (the dashboard counts them). */
export interface ServedEvent {
  instance: string;
  method: string;
  path: string;
  status: number;
}

/** Longest path the traffic events carry: anyone can send a 16 KB path, and the dashboard shows it on a projector. */
export const EVENT_PATH_MAX = 64;

function shortPath(path: string): string {
  return path.length <= EVENT_PATH_MAX ? path : `${path.slice(0, EVENT_PATH_MAX - 1)}…`;
}

/** Answers a request itself (true) before the balancer would forward it; given the canonical path. */
export type FrontRoute = (req: IncomingMessage, res: ServerResponse, path: string) => boolean;

// Methods that are safe to send again when a connection broke before any answer came back.
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Per-request bookkeeping, kept off the IncomingMessage type. */
interface Attempt {
  /** The canonical path and query: what the balancer checked, and exactly what it forwards. */
  url: string;
  path: string;
  tried: Set<string>;
  body: Buffer | null;
  backend: PoolBackend | null;
  setAffinity: boolean;
  /** Set-Cookie lines deleting tossed copies of the affinity cookie (see affinityOf). */
  clearAffinity: string[];
  timedOut: boolean;
}

/** An instance's address as http-proxy's own parsed target (it would url.parse a string on every request). */
interface ProxyTarget {
  protocol: string;
  host: string;
  hostname: string;
  port: string;
  path: string;
}

/** The client went away (an aborted upload, a closed tab): nobody is left to answer. */
function clientGone(req: IncomingMessage, res: ServerResponse): boolean {
  return res.destroyed || req.socket.destroyed || (!req.complete && req.readableAborted);
}

export function sendJson(res: ServerResponse, status: number, body: object, headers: Record<string, string> = {}): void {
  if (res.destroyed || res.socket?.destroyed) return;
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...headers });
  res.end(JSON.stringify(body));
}

/**
 * The affinity cookie's name: over HTTPS `__Host-<name>`, which only this origin over HTTPS can
 * set (Secure, Path=/, no Domain), so a plain-HTTP page cannot plant a forged pin.
 */
function affinityName(req: IncomingMessage, name: string): string {
  return (req.socket as TLSSocket).encrypted ? HOST_PREFIX + name : name;
}

/**
 * The pinned instance, when the client sent exactly one pin. Two pins are ambiguous: a page on
 * another port of this host can toss `coatcheck_lb=<another instance>; path=/profile`, which the
 * browser sends first, for a lasting 401 in sticky mode. Neither is honoured then, none is
 * re-issued (that would overwrite the real one at Path=/), and the copies at longer paths are deleted.
 */
function affinityOf(req: IncomingMessage, name: string, path: string): { affinity: string | undefined; ambiguous: boolean; clear: string[] } {
  const cookie = affinityName(req, name);
  const values = cookieValues(req.headers.cookie, cookie);
  if (values.length < 2) return { affinity: values[0], ambiguous: false, clear: [] };
  return { affinity: undefined, ambiguous: true, clear: (req.socket as TLSSocket).encrypted ? [] : clearTossedCookies(cookie, path) };
}

/** Reads a small request body so it can be sent again if the first instance refuses it. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | 'too-large'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        resolve('too-large');
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
    // Closed before the end without an error event: the client gave up on its upload.
    req.on('close', () => {
      if (!req.complete) reject(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
    });
  });
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
}

export interface Forwarder {
  onRequest(req: IncomingMessage, res: ServerResponse): void;
  close(): void;
}

/**
 * Forwarding: picks an instance with the current strategy, sends the request through
 * http-proxy, retries what is safe to retry, and pins the client with the affinity cookie.
 */
export function createForwarder(options: {
  config: BalancerConfig;
  pool: Pool;
  strategy: () => Strategy;
  stats: BalancerStats;
  traffic: EventEmitter;
  log: Logger;
  front?: FrontRoute | undefined;
}): Forwarder {
  const { config, pool, stats, traffic, log } = options;
  const attempts = new WeakMap<IncomingMessage, Attempt>();

  // Without keep-alive every proxied request opens a new TCP connection: half the throughput.
  // An idle socket is dropped after 30 s, well before the instances' own keep-alive timeout (72 s):
  // otherwise a request could be written to a socket the instance is closing and fail with
  // ECONNRESET. (Node would read that timeout from the instance's Keep-Alive header, but we
  // delete that header from the response below, so it has to be set here.)
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 256, timeout: 30_000 });
  const proxy = httpProxy.createProxyServer({ agent, xfwd: true, proxyTimeout: config.proxyTimeoutMs });

  proxy.on('proxyReq', (proxyReq, req) => {
    const attempt = attempts.get(req);
    // By construction, not by trust in http-proxy's own path handling (its urlJoin collapses
    // slashes and rewrites "http:/"): the request line carries the path the balancer checked.
    if (attempt) proxyReq.path = attempt.url;
    // The client's "close" (left on req.headers for http-proxy's answer) is not for our kept-alive socket.
    if (proxyReq.hasHeader('connection')) proxyReq.removeHeader('connection');
    proxyReq.on('timeout', () => {
      if (attempt) attempt.timedOut = true;
    });
  });

  proxy.on('proxyRes', (proxyRes, req) => {
    cleanResponseHeaders(proxyRes.headers);
    const attempt = attempts.get(req);
    if (attempt?.backend) {
      const served: ServedEvent = { instance: attempt.backend.id, method: req.method ?? 'GET', path: shortPath(attempt.path), status: proxyRes.statusCode ?? 0 };
      traffic.emit('served', served);
    }
    if (attempt?.setAffinity && attempt.backend) {
      const secure = (req.socket as TLSSocket).encrypted ? '; Secure' : '';
      const pin = `${affinityName(req, config.affinityCookie)}=${attempt.backend.id}; Path=/; HttpOnly; SameSite=Lax${secure}`;
      const existing = proxyRes.headers['set-cookie'] ?? [];
      proxyRes.headers['set-cookie'] = [...existing, pin];
    }
    if (attempt && attempt.clearAffinity.length > 0) {
      proxyRes.headers['set-cookie'] = [...(proxyRes.headers['set-cookie'] ?? []), ...attempt.clearAffinity];
    }
  });

  // Errors without a per-request callback (should not happen) must never crash the balancer.
  proxy.on('error', (err) => log.error({ err: err.message }, 'proxy error'));

  const targets = new Map<string, ProxyTarget>();
  const targetOf = (url: string): ProxyTarget => {
    let target = targets.get(url);
    if (!target) {
      const { protocol, host, hostname, port } = new URL(url);
      targets.set(url, (target = { protocol, host, hostname, port, path: '/' }));
    }
    return target;
  };

  /** 503 with Retry-After: no instance could take the request. */
  function noInstance(res: ServerResponse, message: string): void {
    stats.failed++;
    sendJson(res, 503, { error: 'no_instance_available', message }, { 'retry-after': '2' });
  }

  function forward(req: IncomingMessage, res: ServerResponse, attempt: Attempt): void {
    const routing = options.strategy();
    // Only cookie routing reads the affinity cookie: no need to scan every Cookie header.
    const pin = routing.kind === 'cookie' ? affinityOf(req, config.affinityCookie, attempt.path) : undefined;
    const decision = routing.pick(
      // Only a retry needs a list without the instances already tried: no copy on the first attempt.
      attempt.tried.size === 0 ? pool.backends : pool.backends.filter((b) => !attempt.tried.has(b.id)),
      { clientIp: req.socket.remoteAddress ?? '', affinity: pin?.affinity },
    );
    if (!decision) return noInstance(res, 'every app instance is down; the balancer will retry them, try again shortly');
    const backend = decision.backend as PoolBackend;
    attempt.backend = backend;
    attempt.setAffinity = (decision.setAffinity || attempt.setAffinity) && !pin?.ambiguous;
    attempt.clearAffinity = pin?.clear ?? [];
    attempt.tried.add(backend.id);
    backend.requests++;

    const buffer = attempt.body ? Readable.from([attempt.body]) : undefined;
    proxy.web(req, res, { target: targetOf(backend.url), ...(buffer && { buffer }) }, (err: NodeJS.ErrnoException) => {
      // The client hung up (http-proxy then aborts our request to the instance): not the
      // instance's fault, not worth a warning, and there is no one to send an error to.
      if (clientGone(req, res)) {
        log.debug({ instance: backend.id, code: err.code }, 'client went away before the answer');
        return;
      }
      // Under docker compose a stopped container's name stops resolving: like a refusal,
      // the request never left, so it counts as one.
      const refused = ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN'].includes(err.code ?? '');
      // Refused: the instance never saw the request, so any method may go elsewhere.
      // Reset before an answer: only idempotent requests may be sent again.
      const retryable = refused || (!attempt.timedOut && IDEMPOTENT.has(req.method ?? '') && ['ECONNRESET', 'EPIPE'].includes(err.code ?? ''));
      if (refused) pool.markDown(backend, `connection refused (${err.message})`);
      if (retryable && !res.headersSent && attempt.tried.size < 2) {
        stats.retries++;
        log.warn({ instance: backend.id, code: err.code }, 'retrying on another instance');
        forward(req, res, attempt);
        return;
      }
      if (refused) {
        // Nobody is listening where we tried: the service is unavailable, not broken.
        return noInstance(res, `instance ${backend.id} refused the connection and no other could take it; try again shortly`);
      }
      stats.failed++;
      if (attempt.timedOut) {
        sendJson(res, 504, {
          error: 'instance_timeout',
          message: `instance ${backend.id} did not answer within ${config.proxyTimeoutMs} ms`,
        });
      } else {
        log.warn({ instance: backend.id, code: err.code }, 'instance failed');
        sendJson(res, 502, { error: 'instance_failed', message: `instance ${backend.id} failed (${err.code ?? err.message}); try again` });
      }
    });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = canonicalTarget(req.url ?? '');
    if (target.ok && options.front?.(req, res, target.path)) return;
    stats.requests++;
    // A target we cannot read safely, or the instances' control routes (the control plane's
    // only, never the public port's): the balancer answers itself, no instance sees it.
    if (!target.ok) {
      sendJson(res, target.status, { error: target.error, message: target.message });
      return;
    }
    // What reaches the instance is the path we checked: anything reading req.url agrees.
    req.url = target.url;
    // The client may have written X-Forwarded-*; xfwd then sets the real ones instead of appending to forgeries.
    cleanRequestHeaders(req.headers);
    // Our X-Forwarded-* are believed only with this proof: a local process that reaches an
    // instance's port directly cannot forge them.
    if (config.trustProxyToken) req.headers[PROXY_TOKEN_HEADER] = config.trustProxyToken;

    const attempt: Attempt = { url: target.url, path: target.path, tried: new Set(), body: null, backend: null, setAffinity: false, clearAffinity: [], timedOut: false };
    attempts.set(req, attempt);
    if (hasBody(req)) {
      const body = await readBody(req, config.maxBodyBytes);
      if (body === 'too-large') {
        sendJson(res, 413, { error: 'body_too_large', message: `request bodies are limited to ${config.maxBodyBytes} bytes` });
        return;
      }
      attempt.body = body;
      req.headers['content-length'] = String(body.length);
      delete req.headers['transfer-encoding'];
    }
    forward(req, res, attempt);
  }

  return {
    onRequest(req, res) {
      handle(req, res).catch((err: NodeJS.ErrnoException) => {
        // An aborted upload: the client is gone, there is nothing wrong and no one to answer.
        if (clientGone(req, res) || err.code === 'ECONNRESET') {
          log.debug({ err: err.message }, 'client went away during its upload');
          res.destroy();
          return;
        }
        log.error({ err: err.message }, 'balancer request failed');
        sendJson(res, 500, { error: 'internal_error', message: 'the balancer failed on this request; details are in its log' });
      });
    },
    close() {
      proxy.close();
      agent.destroy();
    },
  };
}
