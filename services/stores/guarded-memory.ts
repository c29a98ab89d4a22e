import type { Session } from 'fastify';
import { RaceGuard, SessionEndedError } from './race-guard.js';
import { ttlSeconds, type SessionStore } from './types.js';

/**
 * Keys that expire: the tombstones and carts of the memory store. Expired keys are dropped
 * whenever the map has doubled since the last sweep, so it stays within twice its live keys
 * without a timer, and no write pays for a scan more than once per doubling.
 */
export class Expiring<V> {
  private readonly entries = new Map<string, { value: V; expiresAt: number }>();
  private sweepAt = 64;

  get(key: string, now = Date.now()): V | undefined {
    const entry = this.entries.get(key);
    if (!entry || entry.expiresAt > now) return entry?.value;
    this.entries.delete(key);
    return undefined;
  }

  set(key: string, value: V, ttlSeconds: number): void {
    const now = Date.now();
    this.entries.set(key, { value, expiresAt: now + ttlSeconds * 1000 });
    if (this.entries.size < this.sweepAt) return;
    for (const [k, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(k);
    this.sweepAt = Math.max(64, 2 * this.entries.size);
  }

  /** A new expiry for a key that is there; nothing for one that is not. */
  renew(key: string, ttlSeconds: number): void {
    const entry = this.entries.get(key);
    if (entry) entry.expiresAt = Date.now() + ttlSeconds * 1000;
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }

  clear(): void {
    this.entries.clear();
  }
}

/** What the guarded memory store and the memory carts share: tombstones and carts by session id. */
export interface MemoryRaceState {
  ended: Expiring<true>;
  carts: Expiring<string[]>;
}

/**
 * The memory logbook with the race guard. One process runs one callback at a time, and the
 * inner store writes synchronously, so "no tombstone, then write" cannot be split by a logout:
 * the same guarantee the Redis store gets from a script.
 */
export class GuardedMemoryStore implements SessionStore {
  readonly kind = 'memory' as const;

  constructor(
    private readonly inner: SessionStore,
    private readonly guard: RaceGuard,
    private readonly race: MemoryRaceState,
    private readonly defaultTtlSeconds: number,
  ) {}

  /** Guarded, the cart in the session is the cart store's, whatever copy the session holds. */
  get(sessionId: string, callback: (err: unknown, session?: Session | null) => void): void {
    if (!this.guard.on) return this.inner.get(sessionId, callback);
    this.inner.get(sessionId, (err, session) => {
      if (session) session.cart = this.race.carts.get(sessionId) ?? [];
      callback(err, session);
    });
  }

  set(sessionId: string, session: Session, callback: (err?: unknown) => void): void {
    if (!this.guard.on) return this.inner.set(sessionId, session, callback);
    if (this.race.ended.get(sessionId)) return callback(new SessionEndedError());
    this.race.carts.renew(sessionId, ttlSeconds(session, this.defaultTtlSeconds));
    this.inner.set(sessionId, session, callback);
  }

  destroy(sessionId: string, callback: (err?: unknown) => void): void {
    if (this.guard.on) {
      // As long as the session itself could have lived: no request that loaded it outlasts that.
      this.race.ended.set(sessionId, true, this.defaultTtlSeconds);
      this.race.carts.delete(sessionId);
    }
    this.inner.destroy(sessionId, callback);
  }

  ping(): Promise<boolean> {
    return this.inner.ping();
  }

  whenReady(timeoutMs: number): Promise<boolean> {
    return this.inner.whenReady(timeoutMs);
  }

  size(): Promise<number | null> {
    return this.inner.size();
  }

  async close(): Promise<void> {
    this.race.ended.clear();
    this.race.carts.clear();
    await this.inner.close();
  }
}
