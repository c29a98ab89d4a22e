import { spawnSync } from 'node:child_process';
import { haproxyConfig } from '../../proxy/haproxy/config.js';
import { ask, startHaproxy } from '../../proxy/haproxy/process.js';
import type { RoutingKind } from '../../services/vocabulary.js';
import { freePort } from '../lib/free-port.js';

export const HAPROXY_ROW_MISSING = 'skipped: haproxy not installed';

export function hasHaproxy(): boolean {
  return spawnSync('haproxy', ['-v'], { stdio: 'ignore' }).status === 0;
}

export function haproxyVersion(): string | null {
  const out = spawnSync('haproxy', ['-v'], { encoding: 'utf8' });
  return /version (\S+)/.exec(out.stdout ?? '')?.[1] ?? null;
}

export interface BenchHaproxy {
  url: string;
  /** The worker, which does the work (the master only waits): its CPU is the row's. */
  pid: number;
  stop(): Promise<void>;
}

/**
 * HAProxy as the lab runs it with --balancer haproxy (the same generated configuration), in
 * front of the given instances; one thread, as nginx runs one worker here; no access log,
 * as nginx logs nothing (the lab's log feeds its dashboard, which a bench has none of).
 */
export async function startBenchHaproxy(upstreams: { id: string; url: string }[], routing: RoutingKind, trustProxyToken?: string): Promise<BenchHaproxy> {
  // HAProxy cannot be told to pick a free port: one found free a moment ago may be taken when it binds.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      const haproxy = await startHaproxy({
        config: (statsSocket, generation) =>
          haproxyConfig({
            generation,
            host: '127.0.0.1',
            port,
            routing,
            servers: upstreams.map(({ id, url }) => ({ id, url, admitted: true })),
            statsSocket,
            labPage: undefined,
            trustProxyToken,
            affinityCookie: 'coatcheck_lb',
            healthIntervalMs: 1000,
            proxyTimeoutMs: 10_000,
            headersTimeoutMs: 10_000,
            maxBodyBytes: 64 * 1024,
            maxConnections: 4096,
            accessLog: false,
            threads: 1,
          }),
        onLine: () => {},
      });
      const pid = Number(/^Pid: (\d+)$/m.exec(await ask(haproxy.socket, 'show info'))?.[1]);
      return { url: `http://127.0.0.1:${port}`, pid, stop: () => haproxy.close() };
    } catch (err) {
      if (attempt >= 5 || !/cannot bind/i.test((err as Error).message)) throw err;
    }
  }
}
