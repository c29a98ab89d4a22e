import { redisAddressFromEnv } from '../services/stores/redis-address.js';
import { allowedAdminHosts } from './control/host-guard.js';
import { ConfigError, MODES, MODE_NAMES, REVOCATION_KINDS, ROUTING_KINDS, STORE_KINDS, oneOf, port, positive, secret, type Env, type ModeName, type RevocationKind, type RoutingKind, type StoreKind } from '../services/vocabulary.js';

export interface InstanceAddress {
  id: string;
  url: string;
}

/** What serves the public port: the lab's own Node balancer, or HAProxy driven by the control plane. */
export type BalancerKind = 'node' | 'haproxy';
export const BALANCER_KINDS: readonly BalancerKind[] = ['node', 'haproxy'];

export interface BalancerConfig {
  balancer: BalancerKind;
  /** With HAProxy: its access log feeds the dashboard's traffic (off: counters stay at 0, for a bench). */
  haproxyAccessLog: boolean;
  /** HAProxy runs beside us (a compose sidecar) on the configuration we write in this directory, instead of as our child. */
  haproxyDir: string | undefined;
  host: string;
  port: number;
  adminHost: string;
  adminPort: number;
  /** Host names the admin server answers under: the loopback names plus ADMIN_ALLOWED_HOSTS (DNS rebinding). */
  adminAllowedHosts: string[];
  instances: InstanceAddress[];
  routing: RoutingKind;
  /** The store every instance should use at start; the control plane brings instances that disagree in line. */
  store: StoreKind;
  /** Shared with the instances, for their /_control routes (the control plane's only). */
  controlToken: string | undefined;
  /** Sent to the instances with every forwarded request, so they believe its X-Forwarded-* (TRUST_PROXY_TOKEN). */
  trustProxyToken: string | undefined;
  /** When set, admin writes need `Authorization: Bearer <token>`. */
  adminToken: string | undefined;
  affinityCookie: string;
  healthIntervalMs: number;
  /** A backend that has not answered in this long gets the client a 504. */
  proxyTimeoutMs: number;
  /** Largest request body the balancer buffers (it buffers so it can retry safely). */
  maxBodyBytes: number;
  /** A client must finish its headers, and its whole request, within these (slowloris). */
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  /** Open connections the public listener (and the HTTPS one, each) accepts; the rest are closed at once. */
  maxConnections: number;
  /** Open connections one client address may hold on the public listeners. */
  maxConnectionsPerClient: number;
  /** Optional HTTPS listener (0 picks a free port); without TLS_CERT/TLS_KEY it makes a self-signed pair. */
  httpsPort: number | undefined;
  tlsCertFile: string | undefined;
  tlsKeyFile: string | undefined;
  logLevel: string;
  /** The dashboard's view of the shared logbook (key count, pause, flush); optional. */
  redisUrl: string | undefined;
  /** Must match the instances' REDIS_KEY_PREFIX. */
  redisKeyPrefix: string;
  /** What the instances' REVOCATION is (stateless mode), for the lab's state to show. */
  revocation: RevocationKind;
}

/** INSTANCES="app-1=http://127.0.0.1:3001,app-2=http://127.0.0.1:3002" (ids optional). */
export function parseInstances(raw: string): InstanceAddress[] {
  const entries = raw.split(',').map((s) => s.trim()).filter(Boolean);
  return entries.map((entry, i) => {
    const eq = entry.indexOf('=');
    const id = eq > 0 ? entry.slice(0, eq) : `app-${i + 1}`;
    const url = eq > 0 ? entry.slice(eq + 1) : entry;
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new ConfigError(`INSTANCES: "${url}" is not a URL (expected e.g. app-1=http://127.0.0.1:3001)`);
    }
    if (parsed.protocol !== 'http:') throw new ConfigError(`INSTANCES: ${url} must be an http:// URL`);
    return { id, url: parsed.origin };
  });
}

export function loadBalancerConfig(env: Env = process.env): BalancerConfig {
  const instances = parseInstances(env.INSTANCES ?? '');
  if (instances.length === 0) {
    throw new ConfigError('INSTANCES is required, e.g. INSTANCES=app-1=http://127.0.0.1:3001,app-2=http://127.0.0.1:3002');
  }
  // LAB_MODE is a preset (docker compose sets it from MODE); an explicit ROUTING or STORE
  // overrides it. Not MODE itself: that name is too common (vitest sets MODE=test).
  const mode = (env.LAB_MODE || 'memory') as ModeName;
  if (!MODE_NAMES.includes(mode)) throw new ConfigError(`LAB_MODE=${mode} is not one of: ${MODE_NAMES.join(', ')}`);
  const routing = (env.ROUTING || MODES[mode].routing) as RoutingKind;
  if (!ROUTING_KINDS.includes(routing)) throw new ConfigError(`ROUTING=${routing} is not one of: ${ROUTING_KINDS.join(', ')}`);
  const store = (env.STORE || MODES[mode].store) as StoreKind;
  if (!STORE_KINDS.includes(store)) throw new ConfigError(`STORE=${store} is not one of: ${STORE_KINDS.join(', ')}`);
  const balancer = (env.BALANCER || 'node') as BalancerKind;
  if (!BALANCER_KINDS.includes(balancer)) throw new ConfigError(`BALANCER=${balancer} is not one of: ${BALANCER_KINDS.join(', ')}`);
  return {
    balancer,
    haproxyAccessLog: env.HAPROXY_ACCESS_LOG !== 'off',
    haproxyDir: env.HAPROXY_DIR || undefined,
    host: env.HOST || '127.0.0.1',
    port: port(env, 'PORT', 8080),
    // Loopback by default: the admin API switches modes and crashes instances.
    adminHost: env.ADMIN_HOST || '127.0.0.1',
    adminPort: port(env, 'ADMIN_PORT', 8081),
    adminAllowedHosts: allowedAdminHosts(env.ADMIN_ALLOWED_HOSTS),
    instances,
    routing,
    store,
    controlToken: secret(env, 'CONTROL_TOKEN'),
    trustProxyToken: secret(env, 'TRUST_PROXY_TOKEN'),
    adminToken: secret(env, 'ADMIN_TOKEN'),
    affinityCookie: env.AFFINITY_COOKIE || 'coatcheck_lb',
    healthIntervalMs: positive(env, 'HEALTH_INTERVAL_MS', 1000),
    proxyTimeoutMs: positive(env, 'PROXY_TIMEOUT_MS', 10_000),
    maxBodyBytes: positive(env, 'MAX_BODY_BYTES', 64 * 1024),
    ...clientTimeouts(env),
    // Well below a usual file-descriptor limit (1024 soft, 65536 in containers): the admin port,
    // the health checks and the connections to the instances need descriptors too.
    maxConnections: positive(env, 'MAX_CONNECTIONS', 4096),
    maxConnectionsPerClient: positive(env, 'MAX_CONNECTIONS_PER_CLIENT', 256),
    httpsPort: env.HTTPS_PORT === undefined || env.HTTPS_PORT === '' ? undefined : port(env, 'HTTPS_PORT', 0),
    ...tlsFiles(env),
    logLevel: env.LOG_LEVEL || 'info',
    redisUrl: redisAddressFromEnv(env),
    redisKeyPrefix: env.REDIS_KEY_PREFIX || 'coatcheck:sess:',
    revocation: oneOf(env, 'REVOCATION', REVOCATION_KINDS, 'none'),
  };
}

function tlsFiles(env: Env): { tlsCertFile: string | undefined; tlsKeyFile: string | undefined } {
  const tlsCertFile = env.TLS_CERT || undefined;
  const tlsKeyFile = env.TLS_KEY || undefined;
  if (Boolean(tlsCertFile) !== Boolean(tlsKeyFile)) throw new ConfigError('TLS_CERT and TLS_KEY go together: set both, or neither for a self-signed pair');
  return { tlsCertFile, tlsKeyFile };
}

function clientTimeouts(env: Env): { headersTimeoutMs: number; requestTimeoutMs: number } {
  const headersTimeoutMs = positive(env, 'HEADERS_TIMEOUT_MS', 10_000);
  const requestTimeoutMs = positive(env, 'REQUEST_TIMEOUT_MS', 30_000);
  if (headersTimeoutMs > requestTimeoutMs) {
    throw new ConfigError(`HEADERS_TIMEOUT_MS (${headersTimeoutMs}) cannot exceed REQUEST_TIMEOUT_MS (${requestTimeoutMs})`);
  }
  return { headersTimeoutMs, requestTimeoutMs };
}
