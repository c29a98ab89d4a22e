import closeWithGrace from 'close-with-grace';
import { pino } from 'pino';
import Fastify, { LogController } from 'fastify';
import { createServer as createNetServer, type Server as NetServer } from 'node:net';
import { ConfigError } from '../services/vocabulary.js';
import { createBalancer, type Balancer } from './balancer/index.js';
import { loadTls, type TlsPair } from './balancer/tls.js';
import { loadBalancerConfig, type BalancerConfig } from './config.js';
import { controlPlane } from './control/plugin.js';
import { haproxyBalancer } from './haproxy/balancer.js';
import { dashboardOriginsFor, labPage } from './lab-page.js';

// The admin port's own connection budget: the dashboards, the launcher and a few curls.
// The public port's caps keep file descriptors for it; this keeps it from taking them all.
const ADMIN_MAX_CONNECTIONS = 256;

// The only balancer file that reads the environment, listens and handles signals.
let config: BalancerConfig;
try {
  config = loadBalancerConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(`coatcheck balancer: ${err.message}`);
    process.exit(78); // EX_CONFIG
  }
  throw err;
}

let tls: TlsPair | undefined;
try {
  tls = config.httpsPort === undefined ? undefined : loadTls(config.tlsCertFile, config.tlsKeyFile);
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(`coatcheck balancer: ${err.message}`);
    process.exit(78);
  }
  throw err;
}

const log = pino({ level: config.logLevel, base: { instance: 'balancer' } });
// The "be a user" page is served in front of the balancer, on the public origin (real cookies).
// It may be framed by the dashboard only, whose origin is known once the admin port listens.
let dashboardOrigins: string[] = [];
const nodeBalancer = createBalancer(config, log, { front: labPage({ frameAncestors: () => dashboardOrigins }) });
const httpsServer = tls ? nodeBalancer.attachTls(tls) : undefined;
const balancer: Balancer = config.balancer === 'haproxy' ? await behindHaproxy() : nodeBalancer;

/**
 * HAProxy takes the public port; the Node balancer listens on a loopback port of its own, for the
 * "be a user" page HAProxy routes to it, and keeps its health checks for the control plane.
 */
async function behindHaproxy(): Promise<Balancer> {
  if (tls) {
    console.error('coatcheck balancer: HTTPS_PORT is served by the Node balancer only; with BALANCER=haproxy, leave it unset');
    process.exit(78);
  }
  await new Promise<void>((resolve, reject) => {
    nodeBalancer.server.once('error', reject);
    nodeBalancer.server.listen(0, '127.0.0.1', () => resolve());
  });
  try {
    return await haproxyBalancer(nodeBalancer, config, log, (why) => {
      // Nobody serves the public port any more: stop, so the launcher (or compose) sees it.
      log.error(`${why}: the public port is closed; stopping`);
      // The graceful path every stop takes (closeWithGrace's SIGTERM handler, once installed).
      process.exitCode = 1;
      process.kill(process.pid, 'SIGTERM');
    });
  } catch (err) {
    console.error(`coatcheck balancer: ${(err as Error).message}`);
    await nodeBalancer.close();
    process.exit(err instanceof ConfigError ? 78 : 1);
  }
}
// Fastify's two lines per request would be noise here: a dashboard, a compose healthcheck and
// scripts read /api/state all day. One line per admin write (a switch, a crash) at info, reads at debug.
const admin = Fastify({ loggerInstance: log, logController: new LogController({ disableRequestLogging: true }) });
admin.addHook('onResponse', (request, reply, done) => {
  const entry = { method: request.method, url: request.url, status: reply.statusCode };
  if (request.method === 'GET' || request.method === 'HEAD') request.log.debug(entry, 'admin read');
  else request.log.info(entry, 'admin request');
  done();
});
await admin.register(controlPlane, { balancer, config, log });
admin.server.maxConnections = ADMIN_MAX_CONNECTIONS;

let adminV6: NetServer | undefined;
const closer = closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
  if (err) log.error({ err }, 'closing after an error');
  else log.info({ signal }, 'shutting down');
  adminV6?.close();
  await Promise.all([balancer.close(), admin.close()]);
});

/** Listens, or exits with a message that says which port is taken and how to choose another. */
async function listenOrExit(what: string, variable: string, listen: () => Promise<unknown>, port: number) {
  try {
    await listen();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EADDRINUSE' && code !== 'EACCES') throw err;
    const why = code === 'EADDRINUSE' ? 'is already in use' : 'needs more privileges';
    console.error(`coatcheck balancer: the ${what} port ${port} on ${what === 'admin' ? config.adminHost : config.host} ${why}: stop what holds it, or choose another (${variable}, or npm start -- --${what === 'admin' ? 'admin-port' : 'port'})`);
    process.exit(78);
  }
}

const listenOn = (server: import('node:net').Server, port: number) =>
  new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, config.host, () => resolve());
  });

if (config.balancer === 'node') await listenOrExit('public', 'PORT', () => listenOn(balancer.server, config.port), config.port);
if (httpsServer) await listenOrExit('HTTPS', 'HTTPS_PORT', () => listenOn(httpsServer, config.httpsPort ?? 0), config.httpsPort ?? 0);
await listenOrExit('admin', 'ADMIN_PORT', () => admin.listen({ host: config.adminHost, port: config.adminPort }), config.adminPort);
const port = balancer.publicPort;
const adminPort = (admin.server.address() as { port: number }).port;
dashboardOrigins = dashboardOriginsFor(config.adminHost, adminPort);
// http://[::1]:<admin port> is a loopback name too (one the Host check allows): on the default
// IPv4 loopback, the same admin server also takes connections on IPv6 loopback, when the machine has it.
if (config.adminHost === '127.0.0.1') {
  const v6 = createNetServer((socket) => admin.server.emit('connection', socket));
  v6.maxConnections = ADMIN_MAX_CONNECTIONS;
  await new Promise<void>((resolve) => {
    v6.once('error', (err) => {
      log.warn({ err: (err as Error).message }, `the admin port is not on [::1]:${adminPort}; use http://127.0.0.1:${adminPort}`);
      resolve();
    });
    v6.listen(adminPort, '::1', () => resolve());
  });
  if (v6.listening) adminV6 = v6;
}
const httpsPort = httpsServer ? (httpsServer.address() as { port: number }).port : undefined;
log.info({ port, adminPort, httpsPort, routing: config.routing, store: config.store, balancer: config.balancer }, 'balancer ready');
process.send?.({ type: 'ready', instance: 'balancer', port, adminPort, httpsPort });

// Started by a launcher that has gone away (killed without a chance to stop us): do not linger as an orphan.
process.once('disconnect', () => closer.close());
