import type { StoreKind } from '../../services/vocabulary.js';

/** An instance refused or failed a control request; `message` is the instance's own when it gave one. */
export class ControlError extends Error {
  override name = 'ControlError';
  constructor(
    message: string,
    readonly status: number | null,
  ) {
    super(message);
  }
}

/** GET /_control/health: the process behind an instance (pid and heap are not on the public /health). */
export interface ControlHealth {
  instance: string;
  pid: number | null;
  heapUsedMiB: number | null;
  store: StoreKind;
  storeOk: boolean;
  sessions: number | null;
  /** Requests holding a session in the lab's slow request (POST /cart?delay=) right now. */
  holding: number;
}

export interface ControlClient {
  /** PUT /_control/store: resolves once the instance serves from the new store. */
  setStore(instanceUrl: string, store: StoreKind): Promise<{ store: StoreKind; storeOk: boolean }>;
  /** POST /_control/crash: the instance acknowledges (202), then dies. */
  crash(instanceUrl: string): Promise<void>;
  /** POST /_control/seed: many copies of one session under the given ids (bench only). */
  seed(instanceUrl: string, ids: readonly string[], session: object): Promise<{ seeded: number; sessions: number | null }>;
  /** PUT /_control/race-guard: guarded stores (the default) or the naive ones that show the race. */
  setRaceGuard(instanceUrl: string, on: boolean): Promise<{ raceGuard: boolean }>;
  /** GET /_control/health: the process behind the instance, for the soak test and operators. */
  health(instanceUrl: string): Promise<ControlHealth>;
}

/**
 * The one client for the instances' /_control routes (bearer CONTROL_TOKEN). The control
 * plane, the bench and the tests all use it; nothing else speaks that protocol.
 */
export function controlClient(token: string, timeoutMs = 2000): ControlClient {
  async function call<T>(instanceUrl: string, method: string, path: string, body?: object, timeout = timeoutMs): Promise<{ status: number; json: T }> {
    let response: Response;
    try {
      response = await fetch(`${instanceUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeout),
      });
    } catch (err) {
      throw new ControlError(`${instanceUrl} did not answer ${method} ${path}: ${(err as Error).message}`, null);
    }
    const json = (await response.json().catch(() => ({}))) as T & { message?: string };
    if (!response.ok && response.status !== 404) throw new ControlError(json.message ?? `${method} ${path} answered HTTP ${response.status}`, response.status);
    return { status: response.status, json };
  }
  const ensure = <T>(result: { status: number; json: T }, what: string): T => {
    if (result.status === 404) throw new ControlError(`${what} answered 404: the instance has no control routes (no CONTROL_TOKEN?)`, 404);
    return result.json;
  };

  return {
    async setStore(instanceUrl, store) {
      return ensure(await call<{ store: StoreKind; storeOk: boolean }>(instanceUrl, 'PUT', '/_control/store', { store }, Math.max(timeoutMs, 3000)), '/_control/store');
    },
    async crash(instanceUrl) {
      const result = await call<object>(instanceUrl, 'POST', '/_control/crash');
      ensure(result, '/_control/crash');
      if (result.status !== 202) throw new ControlError(`/_control/crash answered ${result.status}`, result.status);
    },
    async seed(instanceUrl, ids, session) {
      return ensure(await call<{ seeded: number; sessions: number | null }>(instanceUrl, 'POST', '/_control/seed', { ids, session }, 120_000), '/_control/seed');
    },
    async setRaceGuard(instanceUrl, on) {
      return ensure(await call<{ raceGuard: boolean }>(instanceUrl, 'PUT', '/_control/race-guard', { on }), '/_control/race-guard');
    },
    async health(instanceUrl) {
      const h = ensure(await call<Partial<ControlHealth>>(instanceUrl, 'GET', '/_control/health'), '/_control/health');
      return {
        instance: String(h.instance ?? ''),
        pid: typeof h.pid === 'number' ? h.pid : null,
        heapUsedMiB: typeof h.heapUsedMiB === 'number' ? h.heapUsedMiB : null,
        store: h.store as StoreKind,
        storeOk: h.storeOk === true,
        sessions: typeof h.sessions === 'number' ? h.sessions : null,
        holding: typeof h.holding === 'number' ? h.holding : 0,
      };
    },
  };
}
