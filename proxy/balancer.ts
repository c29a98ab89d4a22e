import { EventEmitter } from 'node:events';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { Readable } from 'node:stream';
import { connectionCaps } from './balancer/connection-caps.js';
import { cleanRequestHeaders, cleanResponseHeaders } from './balancer/headers.js';
import { httpProxy } from './balancer/http-proxy.js';
import { canonicalTarget } from './balancer/target.js';
import { modeOf, type StoreKind, type RoutingKind } from '../services/vocabulary.js';
import type { BalancerConfig, InstanceAddress } from './config.js';
import { Pool, type PoolBackend } from './pool.js';
import { userPage } from './static-files.js';
import { createStrategy, type Strategy } from './strategies.js';

interface ProxyTarget {
  protocol: string;
  host: string;
  hostname: string;
  port: string;
  path: string;
}

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

export interface Balancer {
  server: http.Server;
  pool: Pool;
  stats: BalancerStats;
  /** Emits 'served' (ServedEvent) for every answer an instance gave. */
  traffic: EventEmitter;
  state(): { routing: RoutingKind; store: StoreKind; mode: string | null };
  setRouting(kind: RoutingKind): void;
  /** Switch every instance's store; instances that are down are told when they come back. */
  setStore(kind: StoreKind): Promise<{ id: string; ok: boolean; error?: string }[]>;
  addInstance(instance: InstanceAddress): void;
  removeInstance(id: string): boolean;
  /** A second, HTTPS listener with the same routing (not listening yet); closed by close(). */
  attachTls(tls: { key: string; cert: string }): https.Server;
  close(): Promise<void>;
}

// A health check started before a store switch can answer after it (checks time out at 2 s).
const STALE_REPORT_MS = 2500;

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
  timedOut: boolean;
}

/** The client went away (an aborted upload, a closed tab): nobody is left to answer. */
function clientGone(req: IncomingMessage, res: ServerResponse): boolean {
  return res.destroyed || req.socket.destroyed || (!req.complete && req.readableAborted);
}

function sendJson(res: ServerResponse, status: number, body: object, headers: Record<string, string> = {}): void {
  if (res.destroyed || res.socket?.destroyed) return;
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers });
  res.end(JSON.stringify(body));
}

function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
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

/** The round-robin reverse proxy in front of the instances. Never listens: main.ts does. */
export function createBalancer(config: BalancerConfig, log: Logger = console): Balancer {
  let routing: RoutingKind = config.routing;
  let strategy: Strategy = createStrategy(routing);
  let store: StoreKind = config.store;
  let storeSwitchedAt = 0;
  const stats: BalancerStats = { requests: 0, retries: 0, failed: 0 };
  const attempts = new WeakMap<IncomingMessage, Attempt>();
  const traffic = new EventEmitter();
  const serveLabPage = userPage();

  // Without keep-alive every proxied request opens a new TCP connection: half the throughput.
  // An idle socket is dropped after 30 s, well before the instances' own keep-alive timeout (72 s):
  // otherwise a request could be written to a socket the instance is closing and fail with
  // ECONNRESET. (Node would read that timeout from the instance's Keep-Alive header, but we
  // delete that header from the response below, so it has to be set here.)
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 256, timeout: 30_000 });
  const proxy = httpProxy.createProxyServer({ agent, xfwd: true, proxyTimeout: config.proxyTimeoutMs });

  const pool = new Pool(config.instances, config.healthIntervalMs, (backend, report) => {
    // An instance that restarted (or just joined) comes back with its start-up store: bring it
    // in line, and keep it out of the rotation until then, or its empty logbook logs people out.
    if (report.store !== store && config.controlToken) {
      // A report from a check that began before a switch is stale, not a restart: leave it in.
      if (Date.now() - storeSwitchedAt > STALE_REPORT_MS) backend.up = false;
      void pushStore(backend, store).then((result) => {
        if (result.ok) backend.up = true;
        else backend.lastError = `could not switch to the ${store} store: ${result.error}`;
      });
    }
  });

  async function pushStore(backend: PoolBackend, kind: StoreKind): Promise<{ id: string; ok: boolean; error?: string }> {
    try {
      const response = await fetch(`${backend.url}/_control/store`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${config.controlToken}` },
        body: JSON.stringify({ store: kind }),
        signal: AbortSignal.timeout(2000),
      });
      if (!response.ok) {
        const body = (await response.json().catch(() => ({}))) as { message?: string };
        return { id: backend.id, ok: false, error: body.message ?? `HTTP ${response.status}` };
      }
      backend.store = kind;
      return { id: backend.id, ok: true };
    } catch (err) {
      return { id: backend.id, ok: false, error: (err as Error).message };
    }
  }

  proxy.on('proxyReq', (proxyReq, req) => {
    const attempt = attempts.get(req);
    // By construction, not by trust in http-proxy's own path handling (its urlJoin collapses
    // slashes and rewrites "http:/"): the request line carries the path the balancer checked.
    if (attempt) proxyReq.path = attempt.url;
    // The client's "close" (left on req.headers for http-proxy's answer) is not for our kept-alive socket.
    if (proxyReq.hasHeader('connection')) proxyReq.removeHeader('connection');
    proxyReq.on('timeout', () => {
      const attempt = attempts.get(req);
      if (attempt) attempt.timedOut = true;
    });
  });

  proxy.on('proxyRes', (proxyRes, req) => {
    cleanResponseHeaders(proxyRes.headers);
    const attempt = attempts.get(req);
    if (attempt?.backend) {
      const served: ServedEvent = { instance: attempt.backend.id, method: req.method ?? 'GET', path: attempt.path, status: proxyRes.statusCode ?? 0 };
      traffic.emit('served', served);
    }
    if (attempt?.setAffinity && attempt.backend) {
      const secure = (req.socket as TLSSocket).encrypted ? '; Secure' : '';
      const pin = `${config.affinityCookie}=${attempt.backend.id}; Path=/; HttpOnly; SameSite=Lax${secure}`;
      const existing = proxyRes.headers['set-cookie'] ?? [];
      proxyRes.headers['set-cookie'] = [...existing, pin];
    }
  });

  // Errors without a per-request callback (should not happen) must never crash the balancer.
  proxy.on('error', (err) => log.error({ err: err.message }, 'proxy error'));

  // http-proxy parses a string target on every request (with the deprecated url.parse):
  // give it each instance's address once, as the object it would have made.
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
    const decision = strategy.pick(
      // Only a retry needs a list without the instances already tried: no copy on the first attempt.
      attempt.tried.size === 0 ? pool.backends : pool.backends.filter((b) => !attempt.tried.has(b.id)),
      // Only cookie routing reads the affinity cookie: no need to scan every Cookie header.
      { clientIp: req.socket.remoteAddress ?? '', affinity: routing === 'cookie' ? readCookie(req.headers.cookie, config.affinityCookie) : undefined },
    );
    if (!decision) return noInstance(res, 'every app instance is down; the balancer will retry them, try again shortly');
    const backend = decision.backend as PoolBackend;
    attempt.backend = backend;
    attempt.setAffinity = decision.setAffinity || attempt.setAffinity;
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
    // The dashboard's "be a user" page: static, on the public origin so it gets real cookies.
    if (target.ok && target.path.startsWith('/__lab/')) return serveLabPage(req, res);
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

    const attempt: Attempt = { url: target.url, path: target.path, tried: new Set(), body: null, backend: null, setAffinity: false, timedOut: false };
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

  // Slowloris: a client that trickles its headers is cut off after headersTimeout. Node checks
  // the deadlines only every connectionsCheckingInterval (30 s by default), hence the shorter one.
  const serverOptions = {
    requestTimeout: config.requestTimeoutMs,
    headersTimeout: config.headersTimeoutMs,
    connectionsCheckingInterval: Math.min(1000, Math.ceil(config.headersTimeoutMs / 4)),
  };
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
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
  };
  // A malformed request or oversized headers: answer and close, never crash.
  const onClientError = (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (!socket.writable) return socket.destroy();
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const body = JSON.stringify({ error: 'bad_request', message: `malformed request (${err.code ?? 'parse error'})` });
    socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  };
  const capConnections = connectionCaps({ total: config.maxConnections, perClient: config.maxConnectionsPerClient }, (address) =>
    log.debug({ address }, 'connection refused: this client holds too many already'),
  );
  const server = http.createServer(serverOptions, onRequest);
  server.on('clientError', onClientError);
  capConnections(server);
  let tlsServer: https.Server | null = null;
  pool.start();

  return {
    server,
    pool,
    stats,
    traffic,
    state: () => ({ routing, store, mode: modeOf(routing, store) }),
    setRouting(kind) {
      routing = kind;
      strategy = createStrategy(kind);
    },
    async setStore(kind) {
      store = kind;
      storeSwitchedAt = Date.now();
      return Promise.all(pool.backends.filter((b) => b.up).map((b) => pushStore(b, kind)));
    },
    addInstance(instance) {
      // In the rotation after its first health check, which also brings its store in line.
      const backend = pool.add(instance);
      backend.up = false;
      void pool.check(backend);
    },
    removeInstance(id) {
      return pool.remove(id);
    },
    attachTls(tls) {
      tlsServer = https.createServer({ ...serverOptions, ...tls }, onRequest);
      tlsServer.on('clientError', onClientError);
      capConnections(tlsServer);
      // A TLS handshake that fails (a client that distrusts our self-signed certificate) is not a crash.
      tlsServer.on('tlsClientError', (err: Error) => log.warn({ err: err.message }, 'TLS handshake failed'));
      return tlsServer;
    },
    async close() {
      pool.stop();
      await Promise.all(
        [server, tlsServer].map(
          (s) =>
            new Promise<void>((resolve) => {
              if (!s?.listening) return resolve();
              s.close(() => resolve());
              s.closeAllConnections();
            }),
        ),
      );
      proxy.close();
      agent.destroy();
    },
  };
}
