import type { Session } from 'fastify';
import { cartKey, endedKey, RaceGuard, SessionEndedError } from './race-guard.js';
import { metaPrefix, RedisSessionStore, type RedisStoreOptions } from './redis.js';
import { connectionScript } from './redis-script.js';
import { ttlSeconds } from './types.js';

// The tombstone check and the write are one script: no logout can land between them, which a
// GET-then-SET from the instance could not promise. The cart follows the session's lifetime.
const SET = `
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('EXPIRE', KEYS[3], ARGV[2])
return 1`;

// The tombstone lives as long as the session itself could have: no request that loaded the
// session outlasts that, and a fresh login always gets a new id, so it never blocks a login.
const DESTROY = `
redis.call('DEL', KEYS[1], KEYS[3])
redis.call('SET', KEYS[2], '1', 'EX', ARGV[1])
return 1`;

/** The shared logbook with the race guard (services/stores/race-guard.ts); off, the plain store. */
export class GuardedRedisSessionStore extends RedisSessionStore {
  private readonly meta: string;
  private readonly setScript: (...args: (string | number)[]) => Promise<unknown>;
  private readonly destroyScript: (...args: (string | number)[]) => Promise<unknown>;

  constructor(
    private readonly options: RedisStoreOptions,
    private readonly guard: RaceGuard,
  ) {
    super(options);
    this.meta = metaPrefix(options.keyPrefix);
    this.setScript = connectionScript(this.connection, 'coatcheckGuardedSet', SET, 3);
    this.destroyScript = connectionScript(this.connection, 'coatcheckGuardedDestroy', DESTROY, 3);
  }

  private keys(sessionId: string): [string, string, string] {
    return [this.options.keyPrefix + sessionId, endedKey(this.meta, sessionId), cartKey(this.meta, sessionId)];
  }

  /** The session and, guarded, its cart in one MGET. The cart is the cart key's, whatever copy the session holds. */
  override get(sessionId: string, callback: (err: unknown, session?: Session | null) => void): void {
    if (!this.guard.on) return super.get(sessionId, callback);
    const [key, , cart] = this.keys(sessionId);
    this.connection.run(this.connection.client.mget(key, cart)).then(([json, items]) => {
      if (json === null || json === undefined) return callback(null, null);
      const session = JSON.parse(json) as Session;
      session.cart = items ? (JSON.parse(items) as string[]) : [];
      callback(null, session);
    }, callback);
  }

  override set(sessionId: string, session: Session, callback: (err?: unknown) => void): void {
    if (!this.guard.on) return super.set(sessionId, session, callback);
    const ttl = ttlSeconds(session, this.options.defaultTtlSeconds);
    // The write guard (WAIT for replicas, when configured) holds for the guarded write too.
    this.setScript(...this.keys(sessionId), JSON.stringify(session), ttl)
      .then((written) => (written === 1 ? this.confirmReplicated() : Promise.reject(new SessionEndedError())))
      .then(() => callback(), callback);
  }

  override destroy(sessionId: string, callback: (err?: unknown) => void): void {
    if (!this.guard.on) return super.destroy(sessionId, callback);
    this.destroyScript(...this.keys(sessionId), this.options.defaultTtlSeconds).then(() => callback(), callback);
  }
}
