/**
 * The cart of a guarded session, kept apart from the session document: each add is one
 * atomic step in the store, so concurrent adds of one user all survive (a cart inside the
 * session would be read, changed and written back whole by each request: the last one wins).
 */
export interface SessionCarts {
  /**
   * Appends `item`, keeps the newest `limit` items and lets the cart live `ttlSeconds`.
   * Null, with nothing written, when the session was logged out meanwhile (its tombstone).
   */
  add(sessionId: string, item: string, limit: number, ttlSeconds: number): Promise<string[] | null>;
}
