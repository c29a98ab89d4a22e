import type { UserIndex } from './types.js';

/**
 * This process's index, beside its memory logbook: it knows only the sessions written on
 * this instance, which is the honest limit of "log out everywhere" in memory mode.
 */
export class MemoryUserIndex implements UserIndex {
  /** username -> session id -> expiry (ms since epoch), and the size at which to trim it next. */
  private readonly users = new Map<string, { sessions: Map<string, number>; trimAt: number }>();

  async add(username: string, sessionId: string, ttlSeconds: number, maxSessions = Infinity): Promise<string[]> {
    const now = Date.now();
    let entry = this.users.get(username);
    if (!entry) {
      entry = { sessions: new Map(), trimAt: 8 };
      this.users.set(username, entry);
    }
    entry.sessions.set(sessionId, now + ttlSeconds * 1000);
    // Expired entries are trimmed whenever the index has doubled since the last trim: it stays
    // within twice its live sessions, and a user with many sessions costs no scan per write.
    if (entry.sessions.size >= entry.trimAt) {
      for (const [id, expiresAt] of entry.sessions) if (expiresAt <= now) entry.sessions.delete(id);
      entry.trimAt = Math.max(8, 2 * entry.sessions.size);
    }
    if (entry.sessions.size <= maxSessions) return [];
    const live = [...entry.sessions].filter(([, expiresAt]) => expiresAt > now);
    const dead = entry.sessions.size - live.length;
    live.sort((a, b) => a[1] - b[1]);
    const evicted = live.slice(0, Math.max(0, live.length - maxSessions)).map(([id]) => id);
    if (dead > 0) for (const [id, expiresAt] of entry.sessions) if (expiresAt <= now) entry.sessions.delete(id);
    for (const id of evicted) entry.sessions.delete(id);
    return evicted;
  }

  async take(username: string): Promise<string[]> {
    const entry = this.users.get(username);
    this.users.delete(username);
    const now = Date.now();
    return [...(entry?.sessions ?? [])].filter(([, expiresAt]) => expiresAt > now).map(([id]) => id);
  }
}
