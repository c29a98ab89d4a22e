import { ConfigError, PROXY_TOKEN_HEADER, type RoutingKind } from '../../services/vocabulary.js';

/** One app instance as HAProxy sees it: a `server` line. */
export interface HaproxyServer {
  id: string;
  url: string;
  /** False: in the file but `disabled` (the control plane has not let it in yet). */
  admitted: boolean;
}

/** Everything the generated configuration depends on: nothing is read from the environment here. */
export interface HaproxySettings {
  host: string;
  port: number;
  routing: RoutingKind;
  servers: readonly HaproxyServer[];
  /** The runtime API (admin level): reloads hand the listening sockets over through it. */
  statsSocket: string;
  /** Where /__lab/ (the "be a user" page) is served: the Node process of the control plane. */
  labPage: { host: string; port: number } | undefined;
  trustProxyToken: string | undefined;
  affinityCookie: string;
  healthIntervalMs: number;
  proxyTimeoutMs: number;
  headersTimeoutMs: number;
  maxBodyBytes: number;
  maxConnections: number;
  /** One line per request on stdout, which the control plane turns into the dashboard's traffic. */
  accessLog: boolean;
  /** Where that log goes: "stdout" (HAProxy is our child) or a UDP "host:port" we listen on. */
  logTarget?: string | undefined;
  /** Counts the files written: the worker's `show info` tells which one it runs (process.ts). */
  generation: number;
  /** Worker threads; HAProxy's default is one per core. */
  threads?: number | undefined;
}

/** The access log line: backend, server, status, retries, method, path (last: it is the only free text). */
export const LOG_FORMAT = '%b %s %ST %rc %HM %HPO';

/** The same limit as Node's default --max-http-header-size, which the Node balancer answers 431 above. */
export const MAX_HEADER_BYTES = 16 * 1024;

// HAProxy keeps a whole request head in one buffer: twice the header limit, so a head between the
// limit and the buffer gets our 431 (beyond the buffer HAProxy itself answers 400).
const BUFFER_BYTES = 2 * MAX_HEADER_BYTES;

/** Headers that claim to say who the client is: only the balancer may (as headers.ts on the Node side). */
const CLIENT_IDENTITY = ['forwarded', 'x-real-ip', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', PROXY_TOKEN_HEADER];

const SERVER_ID = /^[A-Za-z0-9._-]{1,64}$/;

function json(body: object): string {
  const text = JSON.stringify(body);
  // Single-quoted in the file: HAProxy does not unescape inside single quotes.
  if (text.includes("'")) throw new Error('an error body must not contain a single quote');
  return `'${text}'`;
}

function hostPort(url: string): string {
  const { hostname, port } = new URL(url);
  return `${hostname}:${port || '80'}`;
}

/** `balance` and friends for each routing the lab has, as the Node strategies do it. */
function routingLines(routing: RoutingKind, cookie: string): string[] {
  switch (routing) {
    case 'round-robin':
      return ['balance roundrobin'];
    case 'cookie':
      // Named and flagged as the Node balancer sets it: HttpOnly, SameSite=Lax, Path=/. indirect:
      // the instance never sees it; nocache: a shared cache must not hand one user's pin to another.
      return ['balance roundrobin', `cookie ${cookie} insert indirect nocache httponly attr SameSite=Lax`];
    case 'ip-hash':
      return ['balance source', 'hash-type map-based'];
    case 'consistent-hash':
      return ['balance source', 'hash-type consistent'];
  }
}

/**
 * The HAProxy configuration for the lab's current routing and instance list: the same
 * guarantees as the Node balancer (headers, /_control, limits, retries, 503 + Retry-After).
 * Pure: the settings in, the file's text out.
 */
export function haproxyConfig(s: HaproxySettings): string {
  if (!/^[\w.-]+$/.test(s.affinityCookie)) throw new ConfigError(`AFFINITY_COOKIE=${s.affinityCookie}: letters, digits, ".", "_" and "-" only`);
  for (const server of s.servers) {
    if (!SERVER_ID.test(server.id)) throw new ConfigError(`instance id "${server.id}": HAProxy server names take letters, digits, ".", "_" and "-" only`);
  }
  const lines = [
    'global',
    `  description coatcheck-config-${s.generation}`,
    // Reloads hand the listening sockets from the old worker to the new one: no refused connection.
    `  stats socket ${s.statsSocket} mode 600 level admin expose-fd listeners`,
    `  maxconn ${s.maxConnections}`,
    `  tune.bufsize ${BUFFER_BYTES}`,
    ...(s.threads ? [`  nbthread ${s.threads}`] : []),
    ...(s.accessLog ? [`  log ${s.logTarget ?? 'stdout'} format raw local0 info`] : []),
    '',
    'defaults',
    '  mode http',
    '  option http-keep-alive',
    '  timeout connect 2s',
    '  timeout client 30s',
    `  timeout server ${s.proxyTimeoutMs}ms`,
    // Slowloris: a client that trickles its headers is cut off.
    `  timeout http-request ${s.headersTimeoutMs}ms`,
    '  timeout http-keep-alive 5s',
    '  timeout queue 5s',
    // A refused connection is tried again, on another instance (redispatch): the request never left.
    // A connection closed before any answer (an instance stopping) is tried again for safe methods
    // only (disable-l7-retry below): a login or logout the instance may have done must not run twice.
    '  retries 2',
    '  option redispatch 1',
    '  retry-on conn-failure empty-response',
    `  http-error status 503 content-type application/json hdr retry-after 2 string ${json({ error: 'no_instance_available', message: 'no app instance could take the request; try again shortly' })}`,
    `  http-error status 502 content-type application/json string ${json({ error: 'instance_failed', message: 'the instance failed; try again' })}`,
    `  http-error status 504 content-type application/json string ${json({ error: 'instance_timeout', message: `the instance did not answer within ${s.proxyTimeoutMs} ms` })}`,
    '',
    'frontend public',
    `  bind ${s.host.includes(':') ? `[${s.host}]` : s.host}:${s.port}`,
    `  maxconn ${s.maxConnections}`,
    ...(s.accessLog ? ['  log global', `  log-format "${LOG_FORMAT}"`] : ['  no log']),
    `  http-request return status 431 content-type application/json string ${json({ error: 'bad_request', message: `request headers are limited to ${MAX_HEADER_BYTES} bytes` })} if { req.hdrs,length gt ${MAX_HEADER_BYTES} }`,
    `  http-request return status 413 content-type application/json string ${json({ error: 'body_too_large', message: `request bodies are limited to ${s.maxBodyBytes} bytes` })} if { req.hdr_val(content-length) gt ${s.maxBodyBytes} }`,
    // The instances' control routes, in any spelling: decoded twice (a %255F is a "_" two hops
    // on), case-folded, anywhere in the path. Stricter than needed; no lesson path says "_control".
    '  http-request disable-l7-retry unless METH_GET || METH_HEAD || METH_OPTIONS',
    '  acl control_path path,url_dec,url_dec,lower -m sub /_control',
    `  http-request return status 404 content-type application/json string ${json({ error: 'not_found', message: 'no such route' })} if control_path`,
    // Replaced, not appended to: a client's own X-Forwarded-For would otherwise reach the instance first.
    ...CLIENT_IDENTITY.map((name) => `  http-request del-header ${name}`),
    '  http-request set-header x-forwarded-proto http',
    '  http-request set-header x-forwarded-host %[req.hdr(host)]',
    '  option forwardfor',
    ...(s.trustProxyToken ? [`  http-request set-header ${PROXY_TOKEN_HEADER} ${s.trustProxyToken}`] : []),
    // An instance's "keep-alive: timeout=72" is about our connection to it; ours to the client idles 5 s.
    '  http-response del-header keep-alive',
    ...(s.labPage ? ['  use_backend lab_page if { path_beg /__lab/ }'] : []),
    '  default_backend instances',
    '',
    'backend instances',
    ...routingLines(s.routing, s.affinityCookie).map((line) => `  ${line}`),
    '  option httpchk GET /health',
    '  http-check expect status 200',
    // As the Node pool waits: without it HAProxy gives a check only `inter` (200 ms in the tests),
    // and a busy instance would be taken out of the rotation for answering slowly.
    `  timeout check ${Math.min(Math.max(s.healthIntervalMs, 1000), 2000)}ms`,
    // A name that does not resolve yet (a compose service still starting) must not stop HAProxy.
    `  default-server check inter ${s.healthIntervalMs}ms fall 2 rise 1 init-addr last,libc,none`,
    ...s.servers.map((server) => `  server ${server.id} ${hostPort(server.url)}${s.routing === 'cookie' ? ` cookie ${server.id}` : ''}${server.admitted ? '' : ' disabled'}`),
    ...(s.labPage ? ['', 'backend lab_page', `  server node ${s.labPage.host}:${s.labPage.port}`] : []),
    '',
  ];
  return lines.join('\n');
}
