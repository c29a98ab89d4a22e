import type { StoreKind } from '../services/config.js';
import type { InstanceAddress } from './config.js';
import type { Backend } from './strategies.js';

export interface PoolBackend extends Backend {
  /** The store the instance reported at its last health check. */
  store: StoreKind | null;
  storeOk: boolean | null;
  lastError: string | null;
  requests: number;
}

export interface HealthReport {
  instance: string;
  store: StoreKind;
  storeOk: boolean;
  sessions: number | null;
}

/**
 * The instances and whether each is up. Passive: a refused connection marks an
 * instance down at once. Active: GET /health every interval brings it back.
 */
export class Pool {
  readonly backends: PoolBackend[];
  private timer: NodeJS.Timeout | undefined;
  private checking = false;

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
    if (this.checking) return;
    this.checking = true;
    try {
      await Promise.all(this.backends.map((b) => this.check(b)));
    } finally {
      this.checking = false;
    }
  }

  async check(backend: PoolBackend): Promise<void> {
    try {
      const response = await fetch(`${backend.url}/health`, { signal: AbortSignal.timeout(Math.min(this.intervalMs, 2000)) });
      if (!response.ok) throw new Error(`/health answered ${response.status}`);
      const report = (await response.json()) as HealthReport;
      backend.up = true;
      backend.lastError = null;
      backend.store = report.store;
      backend.storeOk = report.storeOk;
      this.onHealthy(backend, report);
    } catch (err) {
      this.markDown(backend, (err as Error).message);
    }
  }
}
