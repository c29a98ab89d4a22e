import { Redis, type RedisOptions } from 'ioredis';
import { ConfigError, type Env } from '../vocabulary.js';
import { followSwitchMaster } from './switch-master.js';

/**
 * Where Redis is, as one string every layer can pass around (env, launcher, compose):
 *   redis://host:port                        one Redis, at a fixed address
 *   redis-sentinel://h1:p1,h2:p2/mymaster    ask these Sentinels which node is the primary
 *                                            of "mymaster" (Lettuce and Spring spell it alike)
 */
export const SENTINEL_SCHEME = 'redis-sentinel:';

export interface SentinelAddress {
  sentinels: { host: string; port: number }[];
  name: string;
}

/** A sentinel address, or null for a plain redis:// URL (ioredis parses those itself). */
export function parseSentinelAddress(address: string): SentinelAddress | null {
  if (!address.startsWith(SENTINEL_SCHEME)) return null;
  const match = /^redis-sentinel:\/\/([^/]+)\/([\w.-]+)$/.exec(address);
  if (!match) throw new ConfigError(`${address}: a Sentinel address is redis-sentinel://host:port[,host:port...]/<primary name>`);
  return { sentinels: match[1]!.split(',').map((hostPort) => endpoint(hostPort, address)), name: match[2]! };
}

function endpoint(hostPort: string, address: string): { host: string; port: number } {
  const match = /^([\w.-]+|\[[\da-f:]+\]):(\d{1,5})$/i.exec(hostPort.trim());
  const port = Number(match?.[2]);
  if (!match || port < 1 || port > 65535) throw new ConfigError(`${address}: "${hostPort}" is not host:port`);
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port };
}

export function sentinelUrl(sentinels: readonly string[], name: string): string {
  const url = `redis-sentinel://${sentinels.join(',')}/${name}`;
  parseSentinelAddress(url); // throws a ConfigError that names what is wrong
  return url;
}

/**
 * REDIS_URL, or REDIS_SENTINELS (host:port,...) with REDIS_SENTINEL_NAME (default mymaster),
 * as one address. Both set is a mistake worth stopping for: which one would the user mean?
 */
export function redisAddressFromEnv(env: Env): string | undefined {
  const url = env.REDIS_URL || undefined;
  const sentinels = env.REDIS_SENTINELS || undefined;
  if (url && sentinels) throw new ConfigError('set REDIS_URL or REDIS_SENTINELS, not both');
  if (url) {
    parseSentinelAddress(url);
    return url;
  }
  if (!sentinels) return undefined;
  return sentinelUrl(sentinels.split(','), env.REDIS_SENTINEL_NAME || 'mymaster');
}

/**
 * An ioredis client for the address: a URL for one Redis, `sentinels` + `name` for Sentinel.
 * Through Sentinel, ioredis asks for the primary at every (re)connect and checks the node's
 * role once connected, so after a failover it lands on the new primary by itself.
 */
export function createRedisClient(address: string, options: RedisOptions): Redis {
  const client = connect(address, options);
  const sentinel = parseSentinelAddress(address);
  const stopFollowing = sentinel ? followSwitchMaster(client, sentinel) : () => {};
  // ioredis stops for good ("end") when a reconnect's connector fails outright, as it can when
  // no Sentinel answers the first time; the store must come back by itself: start over.
  let closedByUs = false;
  const disconnect = client.disconnect.bind(client);
  client.disconnect = (reconnect = false) => {
    if (!reconnect) {
      closedByUs = true;
      stopFollowing();
    }
    disconnect(reconnect);
  };
  client.on('end', () => {
    if (closedByUs) return;
    setTimeout(() => !closedByUs && client.status === 'end' && client.connect().catch(() => {}), 250).unref();
  });
  return client;
}

function connect(address: string, options: RedisOptions): Redis {
  const sentinel = parseSentinelAddress(address);
  if (!sentinel) return new Redis(address, options);
  return new Redis({
    ...options,
    sentinels: sentinel.sentinels,
    name: sentinel.name,
    // Off: followSwitchMaster() does its job once per failover, not once per Sentinel.
    failoverDetector: false,
    // Every reconnect asks a Sentinel first, which is cheap; the promoted replica is ready the
    // moment a Sentinel names it, so look often rather than back off to a second.
    retryStrategy: (attempt: number) => Math.min(attempt * 50, 250),
    // No Sentinel answers: keep asking, at most a second apart (like retryStrategy for the node).
    sentinelRetryStrategy: (attempt: number) => Math.min(attempt * 100, 1000),
    sentinelCommandTimeout: 500,
    // A primary demoted to replica answers writes with READONLY: the connection is to the
    // wrong node, so reconnect (and ask the Sentinels again). The write itself still fails: 503.
    reconnectOnError: (err: Error) => err.message.startsWith('READONLY'),
  });
}
