import type { Session } from 'fastify';
import type { SessionStore } from '../stores/types.js';
import type { RevocationList } from './revocation.js';

/**
 * The store of stateless mode: there is none. The session travels in the sealed cookie, so
 * nothing is written or found here; it only reports on the revocation list, when there is one,
 * since that is the one thing a request then needs from outside the instance.
 */
export class NoLogbook implements SessionStore {
  readonly kind = 'sealed' as const;

  constructor(private readonly revocation: RevocationList) {}

  get(_sessionId: string, callback: (err: unknown, session?: Session | null) => void): void {
    callback(null, null);
  }

  set(_sessionId: string, _session: Session, callback: (err?: unknown) => void): void {
    callback();
  }

  destroy(_sessionId: string, callback: (err?: unknown) => void): void {
    callback();
  }

  ping(): Promise<boolean> {
    return this.revocation.ping();
  }

  whenReady(timeoutMs: number): Promise<boolean> {
    return this.revocation.whenReady(timeoutMs);
  }

  async size(): Promise<number | null> {
    return null;
  }

  close(): Promise<void> {
    return this.revocation.close();
  }
}
