import dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { ConfigError } from '../../services/vocabulary.js';
import type { Balancer, BalancerStats, Logger, ServedEvent } from '../balancer/index.js';
import type { BalancerConfig } from '../config.js';
import { parseAccessLine } from './access-log.js';
import { haproxyConfig } from './config.js';
import { attachHaproxy, startHaproxy, type HaproxyProcess } from './process.js';

/** A port that was free on the host a moment ago: HAProxy cannot tell us which one it bound for port 0. */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * HAProxy on the public port, driven by the lab's control plane. The Node balancer (`inner`)
 * stays, on an internal loopback port: its pool's health checks feed the lab's state, and it
 * serves the "be a user" page, which HAProxy routes to it. It forwards nothing else.
 *
 * Every routing change, added or removed instance and admission writes a new configuration
 * and reloads HAProxy (master-worker: the old worker finishes its requests, the listening
 * sockets pass to the new one). The traffic the dashboard counts comes from HAProxy's own
 * access log: the same facts (instance, method, path, status) the Node balancer emits, so the
 * per-instance counters, the recent requests and the logged-out rate mean the same thing.
 */
export async function haproxyBalancer(
  inner: Balancer,
  config: BalancerConfig,
  log: Logger,
  /** HAProxy (our child) exited on its own: the public port is gone. */
  onDied: (why: string) => void = () => {},
): Promise<Balancer & { publicPort: number }> {
  const internal = inner.server.address() as net.AddressInfo | null;
  if (!internal) throw new Error('the Node balancer must listen (internally) before HAProxy starts');
  const stats: BalancerStats = { requests: 0, retries: 0, failed: 0 };
  const traffic = new EventEmitter<{ served: [ServedEvent] }>();
  traffic.setMaxListeners(0);

  const onLine = (line: string, stream: 'stdout' | 'stderr') => {
    const entry = stream === 'stdout' ? parseAccessLine(line) : null;
    if (!entry) {
      // Its notices (a reload, a server down) are routine; an ALERT is not.
      if (line.trim()) log[/ALERT/.test(line) ? 'warn' : 'debug'](`haproxy: ${line}`);
      return;
    }
    if (entry.backend !== 'instances' && entry.backend !== 'public') return;
    stats.requests++;
    stats.retries += entry.retries;
    if (entry.server === null) {
      if (entry.status >= 502 && entry.status <= 504) stats.failed++;
      return;
    }
    const backend = inner.backends.find((b) => b.id === entry.server);
    if (backend) backend.requests++;
    traffic.emit('served', { instance: entry.server, method: entry.method, path: entry.path, status: entry.status });
  };

  // A sidecar's log cannot reach our stdout: it comes over UDP, on loopback (the sidecar shares
  // our network namespace), so nothing on the lab network can write lines into the dashboard.
  const logSocket = config.haproxyDir ? await udpLog((line) => onLine(line, 'stdout')) : undefined;
  const logTarget = logSocket ? `127.0.0.1:${logSocket.address().port}` : undefined;

  let port = config.port;
  const render = (socket: string, generation: number) =>
    haproxyConfig({
      generation,
      host: config.host,
      port,
      routing: inner.routing,
      servers: inner.backends.map(({ id, url, admitted }) => ({ id, url, admitted })),
      statsSocket: socket,
      labPage: { host: '127.0.0.1', port: internal.port },
      trustProxyToken: config.trustProxyToken,
      affinityCookie: config.affinityCookie,
      healthIntervalMs: config.healthIntervalMs,
      proxyTimeoutMs: config.proxyTimeoutMs,
      headersTimeoutMs: config.headersTimeoutMs,
      maxBodyBytes: config.maxBodyBytes,
      maxConnections: config.maxConnections,
      accessLog: config.haproxyAccessLog,
      logTarget,
    });

  let haproxy: HaproxyProcess | undefined = config.haproxyDir ? await attachHaproxy(config.haproxyDir, render) : undefined;
  // Port 0 (tests): a port that was free a moment ago may be taken by the time HAProxy binds it.
  for (let attempt = 1; !haproxy; attempt++) {
    if (config.port === 0) port = await freePort(config.host);
    try {
      haproxy = await startHaproxy({ config: render, onLine });
    } catch (err) {
      if (config.port !== 0 || attempt >= 3 || err instanceof ConfigError || !/cannot bind/i.test((err as Error).message)) throw err;
    }
  }
  const running = haproxy;
  let closing = false;
  running.child?.once('exit', (code, signal) => {
    if (!closing) onDied(`haproxy exited (${signal ?? `code ${code}`})`);
  });

  // One reload at a time; changes that arrive meanwhile are folded into the next one.
  let dirty = false;
  let reloading: Promise<void> | null = null;
  const reload = () => {
    dirty = true;
    reloading ??= (async () => {
      while (dirty) {
        dirty = false;
        try {
          await running.reload();
        } catch (err) {
          log.error({ err: (err as Error).message }, 'haproxy reload failed; it keeps the previous configuration');
        }
      }
      reloading = null;
    })();
  };

  return {
    server: inner.server,
    publicPort: port,
    pool: inner.pool,
    get backends() {
      return inner.backends;
    },
    stats,
    traffic,
    get routing() {
      return inner.routing;
    },
    setRouting(kind) {
      if (kind === inner.routing) return;
      inner.setRouting(kind);
      reload();
    },
    settled: async () => {
      await reloading;
    },
    addInstance(instance, options) {
      const backend = inner.addInstance(instance, options);
      reload();
      return backend;
    },
    removeInstance(id) {
      const removed = inner.removeInstance(id);
      if (removed) reload();
      return removed;
    },
    setAdmission(id, admitted) {
      const before = inner.backends.find((b) => b.id === id)?.admitted;
      const found = inner.setAdmission(id, admitted);
      if (found && before !== admitted) reload();
      return found;
    },
    // HAProxy's own checks and retries take a dead instance out; nothing to reload for.
    markDown: (id, reason) => inner.markDown(id, reason),
    attachTls() {
      throw new ConfigError('HTTPS_PORT is served by the Node balancer only; with BALANCER=haproxy, leave it unset');
    },
    async close() {
      closing = true;
      await reloading;
      logSocket?.close();
      await Promise.all([running.close(), inner.close()]);
    },
  };
}

/** A UDP socket on loopback that hands every datagram (one raw log line each) to `onLine`. */
function udpLog(onLine: (line: string) => void): Promise<dgram.Socket> {
  const socket = dgram.createSocket('udp4');
  socket.on('message', (message) => onLine(message.toString('utf8').trimEnd()));
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => resolve(socket));
  });
}
