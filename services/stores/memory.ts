import type { Session } from 'fastify';
import { ttlSeconds, type FailureCount, type LabStore } from './types.js';

interface Entry {
  json: string;
  expiresAt: number;
}

/**
 * The logbook kept in this process's memory: each instance has its own, which is
 * exactly why a round-robin balancer "randomly" logs people out.
 *
 * Unlike @fastify/session's default MemoryStore it stores the serialized session
 * (the default keeps the live Session object, which still references the request
 * and its socket) and forgets it after the same TTL the Redis store uses.
 */
export class MemorySessionStore implements LabStore {
  readonly kind = 'memory' as const;
  private readonly entries = new Map<string, Entry>();
  private readonly failureCounts = new Map<string, { count: number; resetAt: number }>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly defaultTtlSeconds: number,
    sweepIntervalMs = 60_000,
  ) {
    this.sweeper = setInterval(() => this.sweep(), sweepIntervalMs);
    this.sweeper.unref();
  }

  get(sessionId: string, callback: (err: unknown, session?: Session | null) => void): void {
    const entry = this.entries.get(sessionId);
    if (!entry) return callback(null, null);
    if (entry.expiresAt <= Date.now()) {
      this.entries.delete(sessionId);
      return callback(null, null);
    }
    callback(null, JSON.parse(entry.json) as Session);
  }

  set(sessionId: string, session: Session, callback: (err?: unknown) => void): void {
    const expiresAt = Date.now() + ttlSeconds(session, this.defaultTtlSeconds) * 1000;
    this.entries.set(sessionId, { json: JSON.stringify(session), expiresAt });
    callback();
  }

  destroy(sessionId: string, callback: (err?: unknown) => void): void {
    this.entries.delete(sessionId);
    callback();
  }

  /** Drops expired sessions that nobody asked for again, so memory stays flat. */
  sweep(now = Date.now()): number {
    let removed = 0;
    for (const [id, entry] of this.entries) {
      if (entry.expiresAt <= now) {
        this.entries.delete(id);
        removed++;
      }
    }
    for (const [key, counter] of this.failureCounts) if (counter.resetAt <= now) this.failureCounts.delete(key);
    return removed;
  }

  /** Every live session's data, for "log out everywhere" and the dashboard. */
  *sessions(): IterableIterator<[string, Session]> {
    const now = Date.now();
    for (const [id, entry] of this.entries) {
      if (entry.expiresAt > now) yield [id, JSON.parse(entry.json) as Session];
    }
  }

  async whenReady(): Promise<boolean> {
    return true;
  }

  async ping(): Promise<boolean> {
    return true;
  }

  async size(): Promise<number> {
    return this.entries.size;
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.entries.clear();
    this.failureCounts.clear();
  }

  async trackLogin(): Promise<void> {
    // Nothing to index: destroyUser() reads this instance's own sessions.
  }

  /**
   * Only THIS instance's logbook: sessions the same user holds on other instances
   * (each with its own memory store) are out of reach. That is the honest limit of memory mode.
   */
  async destroyUser(username: string): Promise<number> {
    let destroyed = 0;
    for (const [id, session] of this.sessions()) {
      if (session.user?.username === username) {
        this.entries.delete(id);
        destroyed++;
      }
    }
    return destroyed;
  }

  async failures(keys: string[]): Promise<FailureCount[]> {
    const now = Date.now();
    return keys.map((key) => {
      const counter = this.failureCounts.get(key);
      if (!counter || counter.resetAt <= now) return { count: 0, resetInSeconds: 0 };
      return { count: counter.count, resetInSeconds: Math.ceil((counter.resetAt - now) / 1000) };
    });
  }

  async addFailure(keys: string[], windowSeconds: number): Promise<FailureCount[]> {
    const now = Date.now();
    return keys.map((key) => {
      let counter = this.failureCounts.get(key);
      if (!counter || counter.resetAt <= now) {
        counter = { count: 0, resetAt: now + windowSeconds * 1000 };
        this.failureCounts.set(key, counter);
      }
      counter.count++;
      return { count: counter.count, resetInSeconds: Math.ceil((counter.resetAt - now) / 1000) };
    });
  }

  async clearFailures(key: string): Promise<void> {
    this.failureCounts.delete(key);
  }
}
