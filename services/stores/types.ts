import type { Session } from 'fastify';
import type { StoreKind } from '../vocabulary.js';

type Callback = (err?: unknown) => void;
type GetCallback = (err: unknown, session?: Session | null) => void;

/**
 * Where sessions live: the @fastify/session store contract (get, set, destroy), plus
 * what an instance needs to report on it and to shut it down. Nothing else: login
 * throttling and the per-user index have their own interfaces (services/throttle/,
 * services/user-index/).
 */
export interface SessionStore {
  readonly kind: StoreKind;
  get(sessionId: string, callback: GetCallback): void;
  set(sessionId: string, session: Session, callback: Callback): void;
  destroy(sessionId: string, callback: Callback): void;
  /** Whether the store answers right now (for /health). */
  ping(): Promise<boolean>;
  /** Resolves true once the store can serve, or false after `timeoutMs`. */
  whenReady(timeoutMs: number): Promise<boolean>;
  /** How many sessions it holds, when that is cheap to know. */
  size(): Promise<number | null>;
  close(): Promise<void>;
}

/**
 * Seconds until the session must be forgotten: the cookie's own expiry when it
 * has one, so the store never keeps a session longer than the browser keeps its cookie.
 */
export function ttlSeconds(session: Session, fallbackSeconds: number, now = Date.now()): number {
  const expires = session.cookie?.expires;
  if (expires) {
    const ms = new Date(expires).getTime() - now;
    if (Number.isFinite(ms)) return Math.max(1, Math.ceil(ms / 1000));
  }
  return fallbackSeconds;
}

/** The callback store API as promises, for code of our own that reads or ends sessions. */
export function getSession(store: SessionStore, sessionId: string): Promise<Session | null> {
  return new Promise((resolve, reject) => store.get(sessionId, (err, session) => (err ? reject(err) : resolve(session ?? null))));
}

export function destroySession(store: SessionStore, sessionId: string): Promise<void> {
  return new Promise((resolve, reject) => store.destroy(sessionId, (err) => (err ? reject(err) : resolve())));
}

export function setSession(store: SessionStore, sessionId: string, session: Session): Promise<void> {
  return new Promise((resolve, reject) => store.set(sessionId, session, (err) => (err ? reject(err) : resolve())));
}
