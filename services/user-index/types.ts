/**
 * Which sessions belong to which user, for "log out everywhere". An entry lives as long as
 * its session: add() is called on every write of a logged-in session (login, and each
 * idle-timeout refresh), so a session kept alive by use stays in the index too.
 */
export interface UserIndex {
  /**
   * `sessionId` belongs to `username` and lives `ttlSeconds` more. With `maxSessions`, the user
   * keeps at most that many: the ones due to expire first are dropped from the index and
   * returned, for the caller to end (one step, so concurrent logins cannot each slip under the cap).
   */
  add(username: string, sessionId: string, ttlSeconds: number, maxSessions?: number): Promise<string[]>;
  /** The ids of the user's sessions that may still live; the index forgets them. */
  take(username: string): Promise<string[]>;
}
