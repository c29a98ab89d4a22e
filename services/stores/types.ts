import type { Session } from 'fastify';
import type { StoreKind } from '../vocabulary.js';

type Callback = (err?: unknown) => void;
type GetCallback = (err: unknown, session?: Session | null) => void;

/** The @fastify/session store contract, plus what the lab needs to show and close it. */
export interface LabStore {
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
  /** Remembers that this session belongs to `username`, for "log out everywhere". */
  trackLogin(username: string, sessionId: string, ttlSeconds: number): Promise<void>;
  /** Ends every session of `username` that this store knows; resolves how many. */
  destroyUser(username: string): Promise<number>;
  /** Failed-login counters (the login throttle keeps them beside the sessions). */
  failures(keys: string[]): Promise<FailureCount[]>;
  addFailure(keys: string[], windowSeconds: number): Promise<FailureCount[]>;
  clearFailures(key: string): Promise<void>;
}

/** Failures counted for one key in the current window, and when that window ends. */
export interface FailureCount {
  count: number;
  resetInSeconds: number;
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
