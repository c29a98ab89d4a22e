import type { TopologyView } from '../control/redis-topology.js';
import type { ModeName, RevocationKind, RoutingKind, StoreKind } from '../../services/vocabulary.js';

/** One instance in GET /api/state. */
export interface InstanceState {
  id: string;
  url: string;
  /** In the rotation: healthy, and admitted by the control plane (its store matches the lab's). */
  up: boolean;
  store: StoreKind | null;
  storeOk: boolean | null;
  lastError: string | null;
  requests: number;
}

/** GET /api/state, and the answer to every switch. */
export interface AdminState {
  routing: RoutingKind;
  store: StoreKind;
  mode: ModeName | null;
  /** Stateless mode's revocation list (the instances' REVOCATION): `none` or `redis`. */
  revocation?: RevocationKind;
  instances: InstanceState[];
  stats: { requests: number; retries: number; failed: number };
  /** The balancer process's V8 heap in use: RSS also counts the young generation V8 reserves as traffic grows. */
  heapUsedMiB: number;
  /** With a Sentinel address only: the primary and each replica's lag (null until first read). */
  redisTopology?: TopologyView | null;
}

/** GET /api/race, and the answer to the race guard switch and to each race. */
export interface RaceView {
  raceGuard: boolean;
  races: number;
  lostUpdates: number;
  resurrected: number;
  last: { kind: 'cart' | 'logout'; text: string } | null;
}

/** The admin API answered with an error, or could not be reached (status null). */
export class AdminError extends Error {
  override name = 'AdminError';
  constructor(
    message: string,
    readonly status: number | null,
    readonly body: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export interface AdminClient {
  readonly url: string;
  state(): Promise<AdminState>;
  setMode(mode: ModeName): Promise<AdminState>;
  setRouting(routing: RoutingKind): Promise<AdminState>;
  setStore(store: StoreKind): Promise<AdminState>;
  /** Puts a running instance into the pool (it takes traffic once its store matches the lab's). */
  addInstance(instance: { id: string; url: string }): Promise<AdminState>;
  /** Takes an instance out of the pool; its process keeps running. */
  removeInstance(id: string): Promise<AdminState>;
  crash(id: string): Promise<{ message: string }>;
  /** Launcher actions (npm start only): 501 elsewhere. */
  stopInstance(id: string): Promise<{ message: string }>;
  startInstance(id: string): Promise<{ message: string }>;
  removeLabInstance(id: string): Promise<{ message: string }>;
  addLabInstance(): Promise<{ message: string }>;
  startStream(rate: number): Promise<{ message: string }>;
  stopStream(): Promise<{ message: string }>;
  pauseRedis(seconds: number): Promise<{ message: string }>;
  flushRedis(): Promise<{ deleted: number; message: string }>;
  /** The race lab: guarded stores (the default) or naive ones, and one race run through the balancer. */
  raceState(): Promise<RaceView>;
  setRaceGuard(on: boolean): Promise<RaceView>;
  race(kind: 'cart' | 'logout'): Promise<RaceView>;
}

/**
 * The one client for the balancer's admin API: the launcher, the simulator, the tests
 * use it. (The dashboard page, plain browser JavaScript, keeps its own small call().)
 */
export function adminClient(url: string, options: { token?: string | undefined; timeoutMs?: number } = {}): AdminClient {
  async function call<T>(method: string, path: string, body?: object): Promise<T> {
    const hasBody = method !== 'GET' && method !== 'DELETE';
    let response: Response;
    try {
      response = await fetch(`${url}${path}`, {
        method,
        headers: {
          // Writes carry JSON, {} at least: the admin API refuses other bodies (CSRF).
          ...(hasBody && { 'content-type': 'application/json' }),
          ...(options.token && { authorization: `Bearer ${options.token}` }),
        },
        body: hasBody ? JSON.stringify(body ?? {}) : undefined,
        signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
      });
    } catch (err) {
      throw new AdminError(`cannot reach the admin API at ${url} (${(err as Error).message})`, null);
    }
    const json = (await response.json().catch(() => ({}))) as Record<string, unknown>;
    if (!response.ok) throw new AdminError(`admin ${method} ${path}: ${typeof json.message === 'string' ? json.message : `HTTP ${response.status}`}`, response.status, json);
    return json as T;
  }
  const id = (value: string) => encodeURIComponent(value);
  return {
    url,
    state: () => call('GET', '/api/state'),
    setMode: (mode) => call('PUT', '/api/mode', { mode }),
    setRouting: (routing) => call('PUT', '/api/routing', { routing }),
    setStore: (store) => call('PUT', '/api/store', { store }),
    addInstance: (instance) => call('POST', '/api/instances', instance),
    removeInstance: (instance) => call('DELETE', `/api/instances/${id(instance)}`),
    crash: (instance) => call('POST', `/api/instances/${id(instance)}/crash`),
    stopInstance: (instance) => call('POST', `/api/instances/${id(instance)}/stop`),
    startInstance: (instance) => call('POST', `/api/instances/${id(instance)}/start`),
    removeLabInstance: (instance) => call('POST', `/api/instances/${id(instance)}/remove`),
    addLabInstance: () => call('POST', '/api/lab/add-instance'),
    startStream: (rate) => call('PUT', '/api/stream', { rate }),
    stopStream: () => call('DELETE', '/api/stream'),
    pauseRedis: (seconds) => call('POST', '/api/redis/pause', { seconds }),
    flushRedis: () => call('POST', '/api/redis/flush'),
    raceState: () => call('GET', '/api/race'),
    setRaceGuard: (on) => call('PUT', '/api/race-guard', { on }),
    race: (kind) => call('POST', '/api/race', { kind }),
  };
}
