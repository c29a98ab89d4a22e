import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { createRedisClient } from '../../services/stores/redis-address.js';

export interface SessionKey {
  /** The session ID, shortened: the dashboard is on a projector. */
  id: string;
  /** Whose wristband this is, read from the logbook entry. */
  user: string | null;
  ttlSeconds: number;
}

export interface RedisView {
  up: boolean;
  error: string | null;
  /** Session keys under the lab's prefix; null when Redis did not answer. */
  keys: number | null;
  /** True when counting stopped at the cap (a huge keyspace is not the dashboard's to walk). */
  capped: boolean;
  sample: SessionKey[];
}

const SCAN_CAP = 50_000;
const SAMPLE = 5;

/**
 * The control plane's own view of the shared logbook: how many sessions it holds and
 * a few of them, plus the two failure drills the dashboard offers (pause, flush).
 * It uses its own connection, never the instances', and fails fast like they do.
 */
export class LabRedis {
  readonly client: Redis;

  constructor(
    url: string,
    readonly keyPrefix: string,
  ) {
    this.client = createRedisClient(url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: 700,
      connectTimeout: 1000,
      retryStrategy: (attempt) => Math.min(attempt * 200, 1000),
    });
    // Reconnect noise is shown on the dashboard (up/down), not printed as unhandled errors.
    this.client.on('error', () => {});
    this.client.connect().catch(() => {});
  }

  async inspect(): Promise<RedisView> {
    // Without an offline queue a command fails at once while connecting: give the
    // connection a moment first, or the dashboard would report a Redis that is fine as down.
    if (this.client.status !== 'ready') await this.ready(1000);
    try {
      await this.client.ping();
    } catch (err) {
      return { up: false, error: (err as Error).message, keys: null, capped: false, sample: [] };
    }
    try {
      // SCAN, never KEYS: KEYS blocks Redis for every client while it walks the keyspace.
      let cursor = '0';
      let keys = 0;
      const sampleKeys: string[] = [];
      do {
        const [next, batch] = await this.client.scan(cursor, 'MATCH', `${this.keyPrefix}*`, 'COUNT', 1000);
        cursor = next;
        keys += batch.length;
        for (const key of batch) if (sampleKeys.length < SAMPLE) sampleKeys.push(key);
      } while (cursor !== '0' && keys < SCAN_CAP);
      return { up: true, error: null, keys, capped: cursor !== '0', sample: await this.describe(sampleKeys) };
    } catch (err) {
      return { up: false, error: (err as Error).message, keys: null, capped: false, sample: [] };
    }
  }

  /** Resolves when connected or after `ms`, whichever comes first; never rejects. */
  private async ready(ms: number): Promise<void> {
    const abort = new AbortController();
    await Promise.race([once(this.client, 'ready', { signal: abort.signal }), sleep(ms, undefined, { signal: abort.signal })]).catch(() => {});
    abort.abort();
  }

  private async describe(keys: string[]): Promise<SessionKey[]> {
    if (keys.length === 0) return [];
    const pipeline = this.client.pipeline();
    for (const key of keys) pipeline.ttl(key).get(key);
    const replies = (await pipeline.exec()) ?? [];
    return keys.map((key, i) => {
      const ttl = replies[i * 2]?.[1];
      const json = replies[i * 2 + 1]?.[1];
      let user: string | null = null;
      try {
        user = (JSON.parse(String(json)) as { user?: { username?: string } }).user?.username ?? null;
      } catch {
        /* not a lab session */
      }
      const id = key.slice(this.keyPrefix.length);
      return { id: `${id.slice(0, 8)}…`, user, ttlSeconds: typeof ttl === 'number' ? ttl : -2 };
    });
  }

  /** Every client of this Redis stalls for `ms` (CLIENT PAUSE ... ALL): Redis is "down" without losing data. */
  async pause(ms: number): Promise<void> {
    await this.client.client('PAUSE', ms, 'ALL');
  }

  /**
   * Deletes the lab's session keys only (SCAN with the prefix, then UNLINK), not
   * FLUSHDB: the same Redis may hold other data, or the test suite's other labs.
   */
  async flush(): Promise<number> {
    let cursor = '0';
    let deleted = 0;
    do {
      const [next, batch] = await this.client.scan(cursor, 'MATCH', `${this.keyPrefix}*`, 'COUNT', 1000);
      cursor = next;
      if (batch.length > 0) deleted += await this.client.unlink(...batch);
    } while (cursor !== '0');
    return deleted;
  }

  close(): void {
    this.client.disconnect();
  }
}
