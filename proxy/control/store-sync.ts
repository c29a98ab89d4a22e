import { STORE_KINDS, type RoutingKind, type StoreKind } from '../../services/vocabulary.js';
import type { Balancer, HealthReportEvent, Logger, PoolBackend } from '../balancer/index.js';
import type { ControlClient } from '../clients/control-client.js';
import type { LabState } from './state.js';

/** A mode switch that an instance refused: nothing changed (the others were rolled back). */
export class SwitchRefusedError extends Error {
  override name = 'SwitchRefusedError';
  constructor(
    readonly store: StoreKind,
    readonly refused: { id: string; error: string }[],
  ) {
    super(`the switch to the ${store} store was refused, so nothing changed: ${refused.map((r) => `${r.id}: ${r.error}`).join('; ')}`);
  }
}

/**
 * Keeps every instance's session store in line with the lab's, and is the only way the
 * lab's mode changes.
 *
 * A switch is atomic: the new store goes to every live instance first; only when all of
 * them confirmed do the routing and the lab's state change. If one refuses, the ones
 * already switched go back to the old store and the lab stays in its old mode.
 *
 * An instance that reports another store than the lab's (it restarted with its start-up
 * store, or it just joined) is kept out of the rotation and given the lab's store before
 * it takes any traffic. Reports from health checks that started before the instance
 * confirmed its store are stale and ignored (check generations, not a time window).
 */
export class StoreSync {
  // Switches and per-instance syncs run one at a time: a sync never races a switch.
  private queue: Promise<unknown> = Promise.resolve();
  private readonly syncing = new Set<string>();
  // While a switch runs, reports show instances half-way (some switched, some not): they are
  // not restarts. The switch's end fences them off (confirmedGeneration).
  private switching = false;
  private readonly onReport = (event: HealthReportEvent) => this.report(event);
  private readonly onUp = (backend: PoolBackend) => this.mirror(backend);
  private readonly onDown = (backend: PoolBackend) => this.mirror(backend);

  constructor(
    private readonly balancer: Balancer,
    private readonly state: LabState,
    private readonly control: ControlClient | null,
    private readonly log: Logger,
  ) {
    balancer.pool.on('report', this.onReport);
    balancer.pool.on('up', this.onUp);
    balancer.pool.on('down', this.onDown);
  }

  close(): void {
    this.balancer.pool.off('report', this.onReport);
    this.balancer.pool.off('up', this.onUp);
    this.balancer.pool.off('down', this.onDown);
  }

  private serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task);
    this.queue = run.catch(() => {});
    return run;
  }

  /** Copies the balancer's view of an instance (in the rotation or not, why not) into the state. */
  mirror(backend: PoolBackend): void {
    this.state.update(backend.id, { up: backend.up, lastError: backend.lastError });
  }

  private admit(backend: PoolBackend, admitted: boolean): void {
    this.balancer.setAdmission(backend.id, admitted);
    this.mirror(backend);
  }

  /** Changes routing and store together, or not at all. */
  switchTo(routing: RoutingKind, store: StoreKind): Promise<void> {
    return this.serial(async () => {
      const old = this.state.store;
      if (store !== old) {
        this.switching = true;
        try {
          await this.switchStore(store, old);
        } finally {
          this.switching = false;
        }
      }
      this.balancer.setRouting(routing);
      // The answer to a switch means the new routing is what the next request meets.
      await this.balancer.settled();
      this.state.setMode(routing, store);
    });
  }

  /** Every live instance gets the new store, or every one keeps (gets back) the old one. */
  private async switchStore(store: StoreKind, old: StoreKind): Promise<void> {
    const live = this.balancer.backends.filter((b) => b.healthy);
    if (live.length > 0 && !this.control) {
      throw new SwitchRefusedError(store, [{ id: 'balancer', error: 'no CONTROL_TOKEN, so the instances\' stores cannot be switched' }]);
    }
    const results = await Promise.all(live.map((b) => this.push(b, store)));
    const refused = results.filter((r): r is { backend: PoolBackend; error: string } => r.error !== null);
    if (refused.length > 0) {
      await this.rollBack(results.filter((r) => r.error === null).map((r) => r.backend), old);
      throw new SwitchRefusedError(store, refused.map((r) => ({ id: r.backend.id, error: r.error })));
    }
    const generation = this.balancer.pool.generation;
    for (const backend of live) this.state.update(backend.id, { store, confirmedGeneration: generation });
  }

  private async rollBack(switched: PoolBackend[], old: StoreKind): Promise<void> {
    const results = await Promise.all(switched.map((b) => this.push(b, old)));
    const generation = this.balancer.pool.generation;
    for (const { backend, error } of results) {
      if (error === null) {
        this.state.update(backend.id, { store: old, confirmedGeneration: generation });
      } else {
        // Stuck on the refused store: out of the rotation; its next report brings it back in line.
        this.log.warn({ instance: backend.id, err: error }, 'could not roll the store back');
        this.admit(backend, false);
      }
    }
  }

  private async push(backend: PoolBackend, store: StoreKind): Promise<{ backend: PoolBackend; error: string | null }> {
    try {
      const answer = await this.control!.setStore(backend.url, store);
      this.state.update(backend.id, { store: answer.store, storeOk: answer.storeOk });
      return { backend, error: null };
    } catch (err) {
      return { backend, error: (err as Error).message };
    }
  }

  private report({ backend, report, generation }: HealthReportEvent): void {
    const view = this.state.instance(backend.id);
    if (!view) return;
    const store = STORE_KINDS.includes(report.store as StoreKind) ? (report.store as StoreKind) : null;
    const stale = generation <= view.confirmedGeneration;
    this.state.update(backend.id, {
      up: backend.up,
      lastError: backend.lastError,
      sessions: typeof report.sessions === 'number' ? report.sessions : null,
      ...(typeof report.bootId === 'string' && { bootId: report.bootId }),
      ...(!stale && { store, storeOk: typeof report.storeOk === 'boolean' ? report.storeOk : null }),
    });
    if (stale || this.switching || this.syncing.has(backend.id)) return;
    // Without CONTROL_TOKEN nothing can bring it in line: better served than not at all.
    if (store !== this.state.store && this.control) {
      // Its empty or foreign logbook would log people out: out of the rotation until in line.
      this.admit(backend, false);
      this.bringInLine(backend);
    } else if (!backend.admitted) {
      this.admit(backend, true);
    }
  }

  private bringInLine(backend: PoolBackend): void {
    this.syncing.add(backend.id);
    void this.serial(async () => {
      if (!this.balancer.backends.includes(backend)) return;
      const store = this.state.store;
      const { error } = await this.push(backend, store);
      if (error === null) {
        this.state.update(backend.id, { store, confirmedGeneration: this.balancer.pool.generation });
        this.admit(backend, true);
      } else {
        backend.lastError = `could not switch to the ${store} store: ${error}`;
        this.mirror(backend);
      }
    }).finally(() => this.syncing.delete(backend.id));
  }
}
