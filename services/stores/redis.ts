import type { Session } from 'fastify';
import { Redis } from 'ioredis';
import { StoreUnavailableError } from '../errors.js';
import { ttlSeconds, type LabStore } from './types.js';

export interface RedisStoreOptions {
  url: string;
  keyPrefix: string;
  defaultTtlSeconds: number;
  /** Batches concurrent commands into one round trip (about +25% lookups). */
  autoPipelining?: boolean;
  /** How long one command may take before the request gets a 503. */
  commandTimeoutMs?: number;
  onError?: (err: Error) => void;
}

/**
 * The shared logbook: every instance reads and writes the same Redis, so any
 * instance can check any wristband. JSON values under a key prefix, with a TTL
 * taken from the cookie so a key never outlives its cookie.
 */
export class RedisSessionStore implements LabStore {
  readonly kind = 'redis' as const;
  readonly client: Redis;
  private readonly prefix: string;
  private readonly defaultTtlSeconds: number;

  constructor(options: RedisStoreOptions) {
    this.prefix = options.keyPrefix;
    this.defaultTtlSeconds = options.defaultTtlSeconds;
    this.client = new Redis(options.url, {
      lazyConnect: true,
      enableAutoPipelining: options.autoPipelining ?? true,
      // ioredis's defaults queue commands while disconnected and retry each one
      // 20 times: a request would hang for seconds. Fail at once instead, so the
      // user gets a quick 503 and keeps a cookie that works again when Redis is back.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: options.commandTimeoutMs ?? 500,
      connectTimeout: 1000,
      retryStrategy: (attempt) => Math.min(attempt * 100, 1000),
    });
    // Without a listener ioredis prints every reconnect failure as an unhandled error.
    this.client.on('error', (err: Error) => options.onError?.(err));
    this.client.connect().catch(() => {
      /* reported through 'error'; retryStrategy keeps trying */
    });
  }

  private key(sessionId: string): string {
    return this.prefix + sessionId;
  }

  private unavailable(err: unknown): StoreUnavailableError {
    const reason = err instanceof Error ? err.message : String(err);
    return new StoreUnavailableError(`session store (Redis) is not answering: ${reason}`, { cause: err });
  }

  get(sessionId: string, callback: (err: unknown, session?: Session | null) => void): void {
    this.client.get(this.key(sessionId)).then(
      (json) => callback(null, json === null ? null : (JSON.parse(json) as Session)),
      (err: unknown) => callback(this.unavailable(err)),
    );
  }

  set(sessionId: string, session: Session, callback: (err?: unknown) => void): void {
    const ttl = ttlSeconds(session, this.defaultTtlSeconds);
    this.client.set(this.key(sessionId), JSON.stringify(session), 'EX', ttl).then(
      () => callback(),
      (err: unknown) => callback(this.unavailable(err)),
    );
  }

  destroy(sessionId: string, callback: (err?: unknown) => void): void {
    this.client.del(this.key(sessionId)).then(
      () => callback(),
      (err: unknown) => callback(this.unavailable(err)),
    );
  }

  async ping(): Promise<boolean> {
    try {
      return (await this.client.ping()) === 'PONG';
    } catch {
      return false;
    }
  }

  async size(): Promise<number | null> {
    return null; // Counting keys means a SCAN over all of Redis: not on a hot path.
  }

  async close(): Promise<void> {
    // quit() waits for Redis to answer, which it may never do when it is down.
    if (this.client.status === 'ready') await this.client.quit().catch(() => undefined);
    this.client.disconnect();
  }
}
