/**
 * Whether the stores guard a session against its own concurrent requests (on by default).
 *
 * Session middleware reads the whole session when a request starts and writes the whole
 * session back when it ends. Two requests of one user on two instances therefore race:
 * - a logout that lands while another request holds the session is undone when that
 *   request writes the session back (the old cookie works again);
 * - two changes made at the same time each write their own copy, and the last one wins.
 * Guarded, a logout leaves a tombstone that every write checks in the same step, and the
 * cart is its own structure changed by one atomic command instead of a copy written back.
 * Off, the stores behave like a plain get/set/destroy store, so the lab can show the bug.
 */
export class RaceGuard {
  constructor(public on: boolean) {}
}

/** A write for a session that was logged out while the request held it: refused, answered 401. */
export class SessionEndedError extends Error {
  override name = 'SessionEndedError';
  readonly statusCode = 401;
  readonly code = 'COATCHECK_SESSION_ENDED';
  constructor() {
    super('this session was logged out while the request was running: nothing was written; log in again');
  }
}

/** Where the guard keeps a session's tombstone and cart in Redis: beside the meta keys, never under the session prefix. */
export function endedKey(metaPrefix: string, sessionId: string): string {
  return `${metaPrefix}ended:${sessionId}`;
}

export function cartKey(metaPrefix: string, sessionId: string): string {
  return `${metaPrefix}cart:${sessionId}`;
}
