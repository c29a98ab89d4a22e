/**
 * Which sessions belong to which user, for "log out everywhere". An entry lives as long as
 * its session: add() is called on every write of a logged-in session (login, and each
 * idle-timeout refresh), so a session kept alive by use stays in the index too.
 */
export interface UserIndex {
  /** `sessionId` belongs to `username` and lives `ttlSeconds` more. */
  add(username: string, sessionId: string, ttlSeconds: number): Promise<void>;
  /** The ids of the user's sessions that may still live; the index forgets them. */
  take(username: string): Promise<string[]>;
}
