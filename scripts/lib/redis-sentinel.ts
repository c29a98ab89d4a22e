import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { sentinelUrl } from '../../services/stores/redis-address.js';
import { REDIS_MISSING, hasCommand, hasRedisServer, startRedisServer, type RedisServer } from './redis-server.js';

export const SENTINEL_MISSING =
  'redis-sentinel was not found on PATH. Install it (Debian/Ubuntu: sudo apt-get install redis-sentinel; ' +
  'macOS: brew install redis, which has it), or pass --redis-sentinels for Sentinels you run yourself.';

export const hasRedisSentinel = (): boolean => hasCommand('redis-sentinel');

export interface SentinelOptions {
  /** The primary group's name, as clients ask for it. */
  name?: string;
  replicas?: number;
  sentinels?: number;
  /**
   * How long the primary may be silent before a Sentinel calls it down. Redis's default is
   * 30 s; the lab wants a failover you can watch, and on loopback 1 s of silence is a death.
   */
  downAfterMs?: number;
  failoverTimeoutMs?: number;
}

export interface DataNode {
  port: number;
  server: RedisServer;
  /** False once killed, until restarted. */
  alive: boolean;
}

/**
 * A primary, its replicas and a quorum of Sentinels, each a real process on a free loopback port
 * with its own temporary directory. Clients find the primary through `url` (redis-sentinel://…).
 */
export interface SentinelTopology {
  name: string;
  url: string;
  nodes: DataNode[];
  sentinels: RedisServer[];
  /** The node the Sentinels name as primary now (null while none answers). */
  primaryPort(): Promise<number | null>;
  /** SIGKILL to the primary: a crash, no goodbye to its replicas. Returns its port. */
  killPrimary(): Promise<number>;
  /** Resolves with the new primary's port once a Sentinel names another node than `oldPort`. */
  waitForFailover(oldPort: number, timeoutMs?: number): Promise<number>;
  /**
   * Cuts the primary's links to its replicas and freezes them (SIGSTOP) so they cannot reconnect:
   * a slow or broken link. Resolves with the primary's stream offset at the cut (what the
   * replicas hold); release() lets them go on (SIGCONT), to reconnect and catch up.
   */
  holdReplicas(): Promise<{ primaryPort: number; offset: number; release(): void }>;
  /** Starts a killed node again, as a replica of the current primary (empty: no persistence). */
  restartNode(port: number): Promise<void>;
  stop(): Promise<void>;
}

// Redis delays a replica's first full copy by 5 s (to serve several replicas at once): the lab's
// replicas start together, and a node that rejoins after a failover would wait for nothing.
// Any node may be primary after a failover, so every node gets it.
const NODE_ARGS = ['--repl-diskless-sync-delay', '0'];

function sentinelConfig(name: string, primaryPort: number, quorum: number, options: SentinelOptions): string {
  return [
    `sentinel monitor ${name} 127.0.0.1 ${primaryPort} ${quorum}`,
    `sentinel down-after-milliseconds ${name} ${options.downAfterMs ?? 1000}`,
    `sentinel failover-timeout ${name} ${options.failoverTimeoutMs ?? 3000}`,
    `sentinel parallel-syncs ${name} 2`,
    '',
  ].join('\n');
}

/** One command (or a few) on one loopback node, over a connection of its own, closed after. */
export async function onNode<T>(port: number, command: (client: Redis) => Promise<T>): Promise<T> {
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 1000, commandTimeout: 1000, retryStrategy: () => null });
  client.on('error', () => {});
  try {
    await client.connect();
    return await command(client);
  } finally {
    client.disconnect();
  }
}

/** master_repl_offset in INFO replication: a primary's position in its replication stream. */
export function replicationOffset(info: string): number {
  return Number(/master_repl_offset:(\d+)/.exec(info)?.[1] ?? 0);
}

async function until<T>(what: string, timeoutMs: number, check: () => Promise<T | null>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => null);
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

/** Starts the topology and resolves once every Sentinel sees every replica and the other Sentinels. */
export async function startSentinelTopology(options: SentinelOptions = {}): Promise<SentinelTopology> {
  if (!hasRedisServer()) throw new Error(REDIS_MISSING);
  if (!hasRedisSentinel()) throw new Error(SENTINEL_MISSING);
  const name = options.name ?? 'mymaster';
  const replicaCount = options.replicas ?? 2;
  const sentinelCount = options.sentinels ?? 3;
  const nodes: DataNode[] = [];
  const sentinels: RedisServer[] = [];
  const configDirs: string[] = [];
  let stopped = false;

  async function stop(): Promise<void> {
    stopped = true;
    await Promise.all([...sentinels, ...nodes.map((n) => n.server)].map((s) => s.stop()));
    for (const dir of configDirs) rmSync(dir, { recursive: true, force: true });
  }

  try {
    const primary = await startRedisServer({ args: NODE_ARGS });
    nodes.push({ port: primary.port, server: primary, alive: true });
    for (let i = 0; i < replicaCount; i++) {
      const replica = await startRedisServer({ args: [...NODE_ARGS, '--replicaof', '127.0.0.1', String(primary.port)] });
      nodes.push({ port: replica.port, server: replica, alive: true });
    }
    const quorum = Math.floor(sentinelCount / 2) + 1;
    for (let i = 0; i < sentinelCount; i++) {
      const dir = mkdtempSync(join(tmpdir(), 'coatcheck-sentinel-'));
      configDirs.push(dir);
      const file = join(dir, 'sentinel.conf');
      writeFileSync(file, sentinelConfig(name, primary.port, quorum, options));
      sentinels.push(await startRedisServer({ dir, sentinelConfig: file }));
    }
    await until('every replica to hold a full copy', 20_000, async () => {
      const info = await onNode(primary.port, (c) => c.info('replication'));
      return (info.match(/state=online/g) ?? []).length >= replicaCount ? true : null;
    });
    // A failover needs a quorum that knows the replicas and elects a leader among Sentinels that
    // know each other (they meet through the primary's hello channel, every 2 s): wait for it.
    await until('the Sentinels to see every replica and each other', 20_000, async () => {
      for (const sentinel of sentinels) {
        const fields = (await onNode(sentinel.port, (c) => c.call('SENTINEL', 'MASTER', name))) as string[];
        const info = new Map<string, string>();
        for (let i = 0; i + 1 < fields.length; i += 2) info.set(fields[i]!, fields[i + 1]!);
        if (Number(info.get('num-slaves')) < replicaCount || Number(info.get('num-other-sentinels')) < sentinelCount - 1) return null;
      }
      return true;
    });
  } catch (err) {
    await stop();
    throw err;
  }

  const topology: SentinelTopology = {
    name,
    url: sentinelUrl(
      sentinels.map((s) => `127.0.0.1:${s.port}`),
      name,
    ),
    nodes,
    sentinels,
    async primaryPort() {
      for (const sentinel of sentinels) {
        const reply = await onNode(sentinel.port, (c) => c.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)).catch(() => null);
        if (Array.isArray(reply) && reply.length === 2) return Number(reply[1]);
      }
      return null;
    },
    async killPrimary() {
      const port = await topology.primaryPort();
      let node = nodes.find((n) => n.port === port && n.alive);
      // Right after a failover a Sentinel that has not caught up (or the only one that answered in
      // time) may still name the dead node: then ask the live nodes which of them is the primary.
      for (const candidate of node ? [] : nodes.filter((n) => n.alive)) {
        const role = await onNode(candidate.port, (c) => c.call('ROLE')).catch(() => null);
        if (Array.isArray(role) && role[0] === 'master') {
          node = candidate;
          break;
        }
      }
      if (!node) throw new Error('no live primary to kill');
      node.alive = false;
      const exited = new Promise<void>((resolve) => node.server.process.once('exit', () => resolve()));
      node.server.process.kill('SIGKILL');
      await exited;
      return node.port;
    },
    async holdReplicas() {
      const port = await topology.primaryPort();
      if (port === null) throw new Error('no primary to cut off from its replicas');
      const replicas = nodes.filter((node) => node.alive && node.port !== port);
      const release = () => replicas.forEach((r) => r.server.process.kill('SIGCONT'));
      for (const r of replicas) r.server.process.kill('SIGSTOP');
      try {
        // In one transaction: the replicas hold everything up to this offset (already in their sockets), nothing after.
        const offset = await onNode(port, async (c) => {
          const replies = await c.multi().info('replication').call('CLIENT', 'KILL', 'TYPE', 'replica').exec();
          return replicationOffset(String(replies?.[0]?.[1]));
        });
        return { primaryPort: port, offset, release };
      } catch (err) {
        release();
        throw err;
      }
    },
    waitForFailover(oldPort, timeoutMs = 30_000) {
      return until(`a Sentinel to promote a replica in place of port ${oldPort}`, timeoutMs, async () => {
        const port = await topology.primaryPort();
        return port !== null && port !== oldPort ? port : null;
      });
    },
    async restartNode(port) {
      const index = nodes.findIndex((n) => n.port === port);
      const node = nodes[index];
      if (!node || node.alive) throw new Error(`no killed node on port ${port}`);
      const primaryPort = await topology.primaryPort();
      if (primaryPort === null || primaryPort === port) throw new Error('no other primary to follow yet: a node without persistence must not come back as primary');
      // An empty node that came back as primary would have its replicas copy its empty data set:
      // it comes back as a replica of the current primary instead.
      await node.server.stop();
      const server = await startRedisServer({ port, args: [...NODE_ARGS, '--replicaof', '127.0.0.1', String(primaryPort)] });
      nodes[index] = { port, server, alive: true };
      if (stopped) await server.stop(); // stop() ran while this one was starting
    },
    stop,
  };
  return topology;
}
