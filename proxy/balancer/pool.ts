import { EventEmitter } from 'node:events';
import type { InstanceAddress } from '../config.js';
import type { Backend } from './strategies.js';

export interface PoolBackend extends Backend {
  /** Answers its health checks (or has not failed one yet). */
  healthy: boolean;
  /**
   * Let in by the control plane. An instance can be healthy and still kept out of the rotation,
   * e.g. until its session store matches the lab's: it would log people out meanwhile.
   */
  admitted: boolean;
  /** In the rotation: healthy and admitted (what the strategies read). */
  readonly up: boolean;
  lastError: string | null;
  requests: number;
}

/** One successful health check: the instance's own /health body, which the pool does not read. */
export interface HealthReportEvent {
  backend: PoolBackend;
  report: Record<string, unknown>;
  /**
   * The number of the check, counted when it started. A check that started before something
   * changed on the instance (its store was switched) may report the old state: the control
   * plane compares this with `pool.generation` read when the change was confirmed.
   */
  generation: number;
}

export interface PoolEvents {
  up: [PoolBackend];
  down: [PoolBackend, string];
  report: [HealthReportEvent];
}

/**
 * The instances and whether each is up. Passive: a refused connection marks an
 * instance down at once. Active: GET /health every interval brings it back.
 * Emits 'up' and 'down' when an instance's health flips, and 'report' for every
 * answered check.
 */
export class Pool extends EventEmitter<PoolEvents> {
  readonly backends: PoolBackend[];
  /** Health checks started so far: see HealthReportEvent.generation. */
  generation = 0;
  private timer: NodeJS.Timeout | undefined;
  // Per backend, so one frozen instance (its check waiting for the timeout) never delays the others'.
  private readonly checking = new Set<PoolBackend>();
  // Consecutive slow or failed checks: one late /health on a busy machine is not an outage.
  private readonly misses = new WeakMap<PoolBackend, number>();

  constructor(
    instances: InstanceAddress[],
    private readonly intervalMs: number,
  ) {
    super();
    this.backends = instances.map((i) => create(i, true));
  }

  /** A newly added instance is unhealthy until its first check, and admitted as told. */
  add(instance: InstanceAddress, admitted: boolean): PoolBackend {
    if (this.backends.some((b) => b.id === instance.id)) throw new Error(`instance ${instance.id} is already in the pool`);
    const backend = create(instance, admitted);
    backend.healthy = false;
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
    backend.lastError = reason;
    if (!backend.healthy) return;
    backend.healthy = false;
    this.emit('down', backend, reason);
  }

  private markUp(backend: PoolBackend): void {
    backend.lastError = null;
    if (backend.healthy) return;
    backend.healthy = true;
    this.emit('up', backend);
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
    const generation = ++this.generation;
    try {
      const response = await fetch(`${backend.url}/health`, { signal: AbortSignal.timeout(Math.min(Math.max(this.intervalMs, 1000), 2000)) });
      if (response.status === 503) {
        // Draining (SIGTERM): out of the rotation at once, before it closes its port.
        const body = (await response.json().catch(() => ({}))) as { status?: string };
        if (body.status === 'draining') return this.markDown(backend, 'draining (shutting down)');
      }
      if (!response.ok) return this.miss(backend, `/health answered ${response.status}`);
      const report = (await response.json()) as Record<string, unknown>;
      // Removed while its check was in flight: nothing more to say about it.
      if (!this.backends.includes(backend)) return;
      this.misses.delete(backend);
      this.markUp(backend);
      this.emit('report', { backend, report, generation });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause;
      // Refused: nothing listens, no need to wait for a second opinion.
      if (cause?.code === 'ECONNREFUSED') this.markDown(backend, 'connection refused');
      else this.miss(backend, (err as Error).message);
    }
  }
}

function create({ id, url }: InstanceAddress, admitted: boolean): PoolBackend {
  // Up until proven otherwise: the launcher starts the balancer after its instances are ready.
  return {
    id,
    url,
    healthy: true,
    admitted,
    get up() {
      return this.healthy && this.admitted;
    },
    lastError: null,
    requests: 0,
  };
}
