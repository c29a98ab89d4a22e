import type { Session } from 'fastify';
import { Redis } from 'ioredis';
import { StoreUnavailableError } from '../vocabulary.js';
import { ttlSeconds, type FailureCount, type LabStore } from './types.js';

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
  /**
   * Per-user indexes and login counters: "meta:" in front of the session prefix, so a
   * SCAN for "<prefix>*" (the dashboard counting sessions) never mistakes them for sessions.
   */
  private readonly metaPrefix: string;
  private readonly defaultTtlSeconds: number;
  private readonly deadlineMs: number;

  constructor(options: RedisStoreOptions) {
    this.prefix = options.keyPrefix;
    this.metaPrefix = `meta:${options.keyPrefix}`;
    this.defaultTtlSeconds = options.defaultTtlSeconds;
    this.deadlineMs = options.commandTimeoutMs ?? 500;
    this.client = new Redis(options.url, {
      lazyConnect: true,
      enableAutoPipelining: options.autoPipelining ?? true,
      // ioredis's defaults queue commands while disconnected and retry each one
      // 20 times: a request would hang for seconds. Fail at once instead, so the
      // user gets a quick 503 and keeps a cookie that works again when Redis is back.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: this.deadlineMs,
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

  /**
   * The request's own deadline. ioredis's commandTimeout starts when a command is sent, and
   * with auto-pipelining a command waits until the previous batch has settled: with Redis
   * paused that is two timeouts, not one. The user should wait one.
   */
  private within<T>(command: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${this.deadlineMs} ms`)), this.deadlineMs);
    });
    command.catch(() => undefined); // settles later, after the deadline: nobody is listening then
    return Promise.race([command, deadline]).finally(() => clearTimeout(timer));
  }

  private unavailable(err: unknown): StoreUnavailableError {
    const reason = err instanceof Error ? err.message : String(err);
    return new StoreUnavailableError(`session store (Redis) is not answering: ${reason}`, { cause: err });
  }

  /** Every Redis call goes through here: one deadline, and any failure is a StoreUnavailableError. */
  private run<T>(command: Promise<T>): Promise<T> {
    return this.within(command).catch((err: unknown) => {
      throw this.unavailable(err);
    });
  }

  get(sessionId: string, callback: (err: unknown, session?: Session | null) => void): void {
    this.run(this.client.get(this.key(sessionId))).then(
      (json) => callback(null, json === null ? null : (JSON.parse(json) as Session)),
      callback,
    );
  }

  set(sessionId: string, session: Session, callback: (err?: unknown) => void): void {
    const ttl = ttlSeconds(session, this.defaultTtlSeconds);
    this.run(this.client.set(this.key(sessionId), JSON.stringify(session), 'EX', ttl)).then(() => callback(), callback);
  }

  destroy(sessionId: string, callback: (err?: unknown) => void): void {
    this.run(this.client.del(this.key(sessionId))).then(() => callback(), callback);
  }

  /** The connection is made in the background and commands fail fast until it is: wait for it. */
  whenReady(timeoutMs: number): Promise<boolean> {
    if (this.client.status === 'ready') return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        this.client.off('ready', onReady);
        resolve(ok);
      };
      const onReady = () => done(true);
      const timer = setTimeout(() => done(false), timeoutMs);
      this.client.once('ready', onReady);
    });
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

  /**
   * A sorted set per user: session id -> expiry time. Old entries are trimmed on every
   * login, and the set itself expires with the newest session, so it never grows without bound.
   */
  async trackLogin(username: string, sessionId: string, ttlSeconds: number): Promise<void> {
    const index = `${this.metaPrefix}user:${username}`;
    const now = Date.now();
    await this.run(
      this.client
        .multi()
        .zadd(index, now + ttlSeconds * 1000, sessionId)
        .zremrangebyscore(index, '-inf', now)
        .expire(index, ttlSeconds)
        .exec(),
    );
  }

  /** Every instance shares this Redis, so this ends the user's sessions everywhere. */
  async destroyUser(username: string): Promise<number> {
    const index = `${this.metaPrefix}user:${username}`;
    const ids = await this.run(this.client.zrange(index, '0', '-1'));
    const destroyed = ids.length > 0 ? await this.run(this.client.del(...ids.map((id) => this.key(id)))) : 0;
    await this.run(this.client.del(index));
    return destroyed;
  }

  async failures(keys: string[]): Promise<FailureCount[]> {
    const pipeline = this.client.pipeline();
    for (const key of keys) pipeline.get(this.failureKey(key)).pttl(this.failureKey(key));
    return this.run(pipeline.exec().then(pairs));
  }

  /** One atomic step per key (SET NX starts the window, INCR counts): every instance counts together. */
  async addFailure(keys: string[], windowSeconds: number): Promise<FailureCount[]> {
    const multi = this.client.multi();
    for (const key of keys) {
      multi.set(this.failureKey(key), '0', 'EX', windowSeconds, 'NX').incr(this.failureKey(key)).pttl(this.failureKey(key));
    }
    // Drop each SET's reply: what is left is INCR, PTTL pairs.
    return this.run(multi.exec().then((results) => pairs((results ?? []).filter((_, i) => i % 3 !== 0))));
  }

  async clearFailures(key: string): Promise<void> {
    await this.run(this.client.del(this.failureKey(key)));
  }

  private failureKey(key: string): string {
    return `${this.metaPrefix}fail:${key}`;
  }

  async close(): Promise<void> {
    // quit() waits for Redis to answer, which it may never do when it is down.
    if (this.client.status === 'ready') await this.client.quit().catch(() => undefined);
    this.client.disconnect();
  }
}

/** [count, pttl] reply pairs from a pipeline into counts; a failed command fails the lot. */
function pairs(results: [Error | null, unknown][] | null): FailureCount[] {
  const out: FailureCount[] = [];
  const list = results ?? [];
  for (let i = 0; i + 1 < list.length; i += 2) {
    const [countErr, count] = list[i]!;
    const [ttlErr, pttl] = list[i + 1]!;
    if (countErr) throw countErr;
    if (ttlErr) throw ttlErr;
    out.push({ count: Number(count ?? 0), resetInSeconds: Math.max(0, Math.ceil(Number(pttl) / 1000)) });
  }
  return out;
}
