import type { StoreKind } from '../services/vocabulary.js';
import type { InstanceAddress } from './config.js';
import type { Backend } from './strategies.js';

export interface PoolBackend extends Backend {
  /** The store the instance reported at its last health check. */
  store: StoreKind | null;
  storeOk: boolean | null;
  lastError: string | null;
  requests: number;
  /** From the last health check, for the dashboard: its memory logbook's size and its process. */
  sessions?: number | null;
  pid?: number | null;
}

export interface HealthReport {
  instance: string;
  store: StoreKind;
  storeOk: boolean;
  sessions: number | null;
  pid?: number;
}

/**
 * The instances and whether each is up. Passive: a refused connection marks an
 * instance down at once. Active: GET /health every interval brings it back.
 */
export class Pool {
  readonly backends: PoolBackend[];
  private timer: NodeJS.Timeout | undefined;
  // Per backend, so one frozen instance (its check waiting for the timeout) never delays the others'.
  private readonly checking = new Set<PoolBackend>();
  // Consecutive slow or failed checks: one late /health on a busy machine is not an outage.
  private readonly misses = new WeakMap<PoolBackend, number>();

  constructor(
    instances: InstanceAddress[],
    private readonly intervalMs: number,
    private readonly onHealthy: (backend: PoolBackend, report: HealthReport) => void = () => {},
  ) {
    this.backends = instances.map((i) => this.create(i));
  }

  private create({ id, url }: InstanceAddress): PoolBackend {
    // Up until proven otherwise: the launcher starts the balancer after its instances are ready.
    return { id, url, up: true, store: null, storeOk: null, lastError: null, requests: 0 };
  }

  add(instance: InstanceAddress): PoolBackend {
    if (this.backends.some((b) => b.id === instance.id)) throw new Error(`instance ${instance.id} is already in the pool`);
    const backend = this.create(instance);
    this.backends.push(backend);
    return backend;
  }

  remove(id: string): boolean {
    const index = this.backends.findIndex((b) => b.id === id);
    if (index < 0) return false;
    this.backends.splice(index, 1);
    return true;
  }

  markDown(backend: PoolBackend, reason: string): void {
    backend.up = false;
    backend.lastError = reason;
  }

  start(): void {
    void this.checkAll();
    this.timer = setInterval(() => void this.checkAll(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async checkAll(): Promise<void> {
    await Promise.all(
      this.backends.map(async (b) => {
        if (this.checking.has(b)) return;
        this.checking.add(b);
        try {
          await this.check(b);
        } finally {
          this.checking.delete(b);
        }
      }),
    );
  }

  /** A check that failed softly (timeout, 5xx): down only on the second in a row. */
  private miss(backend: PoolBackend, reason: string): void {
    const misses = (this.misses.get(backend) ?? 0) + 1;
    this.misses.set(backend, misses);
    if (misses >= 2) this.markDown(backend, reason);
  }

  async check(backend: PoolBackend): Promise<void> {
    try {
      const response = await fetch(`${backend.url}/health`, { signal: AbortSignal.timeout(Math.min(Math.max(this.intervalMs, 1000), 2000)) });
      if (response.status === 503) {
        // Draining (SIGTERM): out of the rotation at once, before it closes its port.
        const body = (await response.json().catch(() => ({}))) as { status?: string };
        if (body.status === 'draining') return this.markDown(backend, 'draining (shutting down)');
      }
      if (!response.ok) return this.miss(backend, `/health answered ${response.status}`);
      const report = (await response.json()) as HealthReport;
      this.misses.delete(backend);
      backend.up = true;
      backend.lastError = null;
      backend.store = report.store;
      backend.storeOk = report.storeOk;
      backend.sessions = report.sessions;
      backend.pid = report.pid ?? null;
      this.onHealthy(backend, report);
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause;
      // Refused: nothing listens, no need to wait for a second opinion.
      if (cause?.code === 'ECONNREFUSED') this.markDown(backend, 'connection refused');
      else this.miss(backend, (err as Error).message);
    }
  }
}
