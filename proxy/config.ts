import { STORE_KINDS, type StoreKind } from '../services/config.js';
import { ConfigError } from '../services/errors.js';
import { ROUTING_KINDS, type RoutingKind } from './modes.js';

export interface InstanceAddress {
  id: string;
  url: string;
}

export interface BalancerConfig {
  host: string;
  port: number;
  adminHost: string;
  adminPort: number;
  instances: InstanceAddress[];
  routing: RoutingKind;
  /** The store every instance should use; the balancer tells instances that disagree. */
  store: StoreKind;
  /** Shared with the instances, for their /_control routes. */
  controlToken: string | undefined;
  /** When set, admin writes need `Authorization: Bearer <token>`. */
  adminToken: string | undefined;
  affinityCookie: string;
  healthIntervalMs: number;
  /** A backend that has not answered in this long gets the client a 504. */
  proxyTimeoutMs: number;
  /** Largest request body the balancer buffers (it buffers so it can retry safely). */
  maxBodyBytes: number;
  logLevel: string;
}

type Env = Record<string, string | undefined>;

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

function port(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new ConfigError(`${name}=${raw} is not a port number`);
  return n;
}

function positive(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new ConfigError(`${name}=${raw} must be a positive whole number`);
  return n;
}

export function loadBalancerConfig(env: Env = process.env): BalancerConfig {
  const instances = parseInstances(env.INSTANCES ?? '');
  if (instances.length === 0) {
    throw new ConfigError('INSTANCES is required, e.g. INSTANCES=app-1=http://127.0.0.1:3001,app-2=http://127.0.0.1:3002');
  }
  const routing = (env.ROUTING || 'round-robin') as RoutingKind;
  if (!ROUTING_KINDS.includes(routing)) throw new ConfigError(`ROUTING=${routing} is not one of: ${ROUTING_KINDS.join(', ')}`);
  const store = (env.STORE || 'memory') as StoreKind;
  if (!STORE_KINDS.includes(store)) throw new ConfigError(`STORE=${store} is not one of: ${STORE_KINDS.join(', ')}`);
  return {
    host: env.HOST || '127.0.0.1',
    port: port(env, 'PORT', 8080),
    // Loopback by default: the admin API switches modes and crashes instances.
    adminHost: env.ADMIN_HOST || '127.0.0.1',
    adminPort: port(env, 'ADMIN_PORT', 8081),
    instances,
    routing,
    store,
    controlToken: env.CONTROL_TOKEN || undefined,
    adminToken: env.ADMIN_TOKEN || undefined,
    affinityCookie: env.AFFINITY_COOKIE || 'coatcheck_lb',
    healthIntervalMs: positive(env, 'HEALTH_INTERVAL_MS', 1000),
    proxyTimeoutMs: positive(env, 'PROXY_TIMEOUT_MS', 10_000),
    maxBodyBytes: positive(env, 'MAX_BODY_BYTES', 64 * 1024),
    logLevel: env.LOG_LEVEL || 'info',
  };
}
