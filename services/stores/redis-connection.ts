import { Redis } from 'ioredis';
import { StoreUnavailableError } from '../vocabulary.js';
import { createRedisClient } from './redis-address.js';

export interface RedisConnectionOptions {
  /** redis://host:port, or redis-sentinel://host:port,.../name (see redis-address.ts). */
  url: string;
  /** Batches concurrent commands into one round trip (about +25% lookups). */
  autoPipelining?: boolean;
  /** How long one command may take before the request gets a 503. */
  commandTimeoutMs?: number;
  /** Once per outage: the first error after the connection was fine (ioredis repeats it at every retry). */
  onError?: (err: Error) => void;
  /** When Redis answers again after an outage. */
  onRecover?: () => void;
}

/**
 * One Redis connection per instance, shared by the session store, the login counters
 * and the per-user index. Every command goes through run(): one deadline, and any
 * failure is a StoreUnavailableError (503 + Retry-After), never "no session".
 */
export class RedisConnection {
  readonly client: Redis;
  private readonly deadlineMs: number;

  constructor(options: RedisConnectionOptions) {
    this.deadlineMs = options.commandTimeoutMs ?? 500;
    this.client = createRedisClient(options.url, {
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
    // Without a listener ioredis prints every reconnect failure as an unhandled error. It reports
    // one per retry (several a second): the log gets the outage's start and its end, not each retry.
    let failing = false;
    this.client.on('error', (err: Error) => {
      if (failing) return;
      failing = true;
      options.onError?.(err);
    });
    this.client.on('ready', () => {
      if (!failing) return;
      failing = false;
      options.onRecover?.();
    });
    this.client.connect().catch(() => {
      /* reported through 'error'; retryStrategy keeps trying */
    });
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

  /** Every Redis call goes through here: one deadline, and any failure is a StoreUnavailableError. */
  run<T>(command: Promise<T>): Promise<T> {
    return this.within(command).catch((err: unknown) => {
      const reason = err instanceof Error ? err.message : String(err);
      throw new StoreUnavailableError(`session store (Redis) is not answering: ${reason}`, { cause: err });
    });
  }

  /** A MULTI's replies, or the first command's error: a transaction that half failed is a failure. */
  async transaction(multi: ReturnType<Redis['multi']>): Promise<unknown[]> {
    const results = await this.run(multi.exec());
    if (!results) throw new StoreUnavailableError('session store (Redis) aborted a transaction');
    return results.map(([err, value]) => {
      if (err) throw new StoreUnavailableError(`session store (Redis) refused a command: ${err.message}`, { cause: err });
      return value;
    });
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

  async close(): Promise<void> {
    // quit() waits for Redis to answer, which it may never do when it is down.
    if (this.client.status === 'ready') await this.client.quit().catch(() => undefined);
    this.client.disconnect();
  }
}
