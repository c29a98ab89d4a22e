import type { Session } from 'fastify';
import type { StoreKind } from '../vocabulary.js';
import type { FailureCount, LabStore } from './types.js';

/**
 * The store the session plugin sees. It forwards to the memory or the Redis
 * store, whichever is active, so the lab can switch stores at runtime. The two
 * are separate logbooks: a session written in one is not found in the other.
 */
export class SwitchableStore implements LabStore {
  private active: LabStore;

  constructor(
    private readonly stores: Partial<Record<StoreKind, () => LabStore>>,
    initial: StoreKind,
    private readonly built = new Map<StoreKind, LabStore>(),
  ) {
    this.active = this.open(initial);
  }

  get kind(): StoreKind {
    return this.active.kind;
  }

  get current(): LabStore {
    return this.active;
  }

  available(): StoreKind[] {
    return Object.keys(this.stores) as StoreKind[];
  }

  /** Built on first use: an instance in memory mode never connects to Redis. */
  private open(kind: StoreKind): LabStore {
    let store = this.built.get(kind);
    if (!store) {
      const make = this.stores[kind];
      if (!make) throw new Error(`store "${kind}" is not configured on this instance (for redis, set REDIS_URL)`);
      store = make();
      this.built.set(kind, store);
    }
    return store;
  }

  switchTo(kind: StoreKind): void {
    this.active = this.open(kind);
  }

  get(sessionId: string, callback: (err: unknown, session?: Session | null) => void): void {
    this.active.get(sessionId, callback);
  }

  set(sessionId: string, session: Session, callback: (err?: unknown) => void): void {
    this.active.set(sessionId, session, callback);
  }

  destroy(sessionId: string, callback: (err?: unknown) => void): void {
    this.active.destroy(sessionId, callback);
  }

  ping(): Promise<boolean> {
    return this.active.ping();
  }

  whenReady(timeoutMs: number): Promise<boolean> {
    return this.active.whenReady(timeoutMs);
  }

  size(): Promise<number | null> {
    return this.active.size();
  }

  async close(): Promise<void> {
    await Promise.all([...this.built.values()].map((s) => s.close()));
  }

  trackLogin(username: string, sessionId: string, ttlSeconds: number): Promise<void> {
    return this.active.trackLogin(username, sessionId, ttlSeconds);
  }

  destroyUser(username: string): Promise<number> {
    return this.active.destroyUser(username);
  }

  failures(keys: string[]): Promise<FailureCount[]> {
    return this.active.failures(keys);
  }

  addFailure(keys: string[], windowSeconds: number): Promise<FailureCount[]> {
    return this.active.addFailure(keys, windowSeconds);
  }

  clearFailures(key: string): Promise<void> {
    return this.active.clearFailures(key);
  }
}
