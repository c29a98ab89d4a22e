import type { UserIndex } from './types.js';

/**
 * This process's index, beside its memory logbook: it knows only the sessions written on
 * this instance, which is the honest limit of "log out everywhere" in memory mode.
 */
export class MemoryUserIndex implements UserIndex {
  /** username -> session id -> expiry (ms since epoch). */
  private readonly users = new Map<string, Map<string, number>>();

  async add(username: string, sessionId: string, ttlSeconds: number): Promise<void> {
    const now = Date.now();
    let sessions = this.users.get(username);
    if (!sessions) {
      sessions = new Map();
      this.users.set(username, sessions);
    }
    // Trimmed on every write, so the index of a user who never logs out stays small.
    for (const [id, expiresAt] of sessions) if (expiresAt <= now) sessions.delete(id);
    sessions.set(sessionId, now + ttlSeconds * 1000);
  }

  async take(username: string): Promise<string[]> {
    const sessions = this.users.get(username);
    this.users.delete(username);
    const now = Date.now();
    return [...(sessions ?? [])].filter(([, expiresAt]) => expiresAt > now).map(([id]) => id);
  }
}
