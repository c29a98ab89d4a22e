import type { Session } from 'fastify';
import { ttlSeconds, type SessionStore } from './types.js';

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
export class MemorySessionStore implements SessionStore {
  readonly kind = 'memory' as const;
  private readonly entries = new Map<string, Entry>();
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
    return removed;
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
  }
}
