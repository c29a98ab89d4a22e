import type { Session } from 'fastify';
import { RedisConnection, type RedisConnectionOptions } from './redis-connection.js';
import { StoreUnavailableError } from '../vocabulary.js';
import { ttlSeconds, type SessionStore } from './types.js';

export interface RedisStoreOptions extends RedisConnectionOptions {
  keyPrefix: string;
  defaultTtlSeconds: number;
  /** The write guard (0: off): see confirmReplicated(). */
  waitReplicas?: number;
  waitMs?: number;
}

/**
 * The shared logbook: every instance reads and writes the same Redis, so any
 * instance can check any wristband. JSON values under a key prefix, with a TTL
 * taken from the cookie so a key never outlives its cookie.
 *
 * It owns the instance's Redis connection; the login counters and the per-user
 * index borrow it (`connection`), and close() closes it for all of them.
 */
export class RedisSessionStore implements SessionStore {
  readonly kind = 'redis' as const;
  readonly connection: RedisConnection;
  private readonly prefix: string;
  private readonly defaultTtlSeconds: number;
  private readonly waitReplicas: number;
  private readonly waitMs: number;

  constructor(options: RedisStoreOptions) {
    // WAIT holds the connection (every instance's command behind it waits too): the deadline must outlast it.
    const waitMs = options.waitMs ?? 100;
    this.connection = new RedisConnection({ ...options, commandTimeoutMs: Math.max(options.commandTimeoutMs ?? 500, waitMs + 400) });
    this.prefix = options.keyPrefix;
    this.defaultTtlSeconds = options.defaultTtlSeconds;
    this.waitReplicas = options.waitReplicas ?? 0;
    this.waitMs = waitMs;
  }

  /**
   * The write guard. Redis acknowledges a write before its replicas have it; if the primary dies
   * then, a failover promotes a replica without it: a login that said 200 is gone. WAIT blocks
   * until `waitReplicas` replicas confirm every write this connection made (the session, the
   * user index), and a write they did not confirm in time is answered 503, never 200.
   * Sentinel promotes the replica with the most data, so a confirmed write survives one crash
   * (not a guarantee against every split: WAIT does not make Redis strongly consistent).
   */
  protected async confirmReplicated(): Promise<void> {
    if (this.waitReplicas === 0) return;
    const acked = await this.connection.run(this.connection.client.wait(this.waitReplicas, this.waitMs));
    if (acked < this.waitReplicas) {
      throw new StoreUnavailableError(`session store (Redis): ${acked} of ${this.waitReplicas} replicas confirmed the write within ${this.waitMs} ms`);
    }
  }

  private key(sessionId: string): string {
    return this.prefix + sessionId;
  }

  get(sessionId: string, callback: (err: unknown, session?: Session | null) => void): void {
    this.connection.run(this.connection.client.get(this.key(sessionId))).then(
      (json) => callback(null, json === null ? null : (JSON.parse(json) as Session)),
      callback,
    );
  }

  set(sessionId: string, session: Session, callback: (err?: unknown) => void): void {
    const ttl = ttlSeconds(session, this.defaultTtlSeconds);
    this.connection
      .run(this.connection.client.set(this.key(sessionId), JSON.stringify(session), 'EX', ttl))
      .then(() => this.confirmReplicated())
      .then(() => callback(), callback);
  }

  destroy(sessionId: string, callback: (err?: unknown) => void): void {
    this.connection.run(this.connection.client.del(this.key(sessionId))).then(() => callback(), callback);
  }

  whenReady(timeoutMs: number): Promise<boolean> {
    return this.connection.whenReady(timeoutMs);
  }

  ping(): Promise<boolean> {
    return this.connection.ping();
  }

  async size(): Promise<number | null> {
    return null; // Counting keys means a SCAN over all of Redis: not on a hot path.
  }

  close(): Promise<void> {
    return this.connection.close();
  }
}

/**
 * Where the login counters and per-user indexes live: "meta:" in front of the session
 * prefix, so a SCAN for "<prefix>*" (the dashboard counting sessions) never mistakes them for sessions.
 */
export function metaPrefix(sessionPrefix: string): string {
  return `meta:${sessionPrefix}`;
}
