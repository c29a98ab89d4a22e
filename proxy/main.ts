import closeWithGrace from 'close-with-grace';
import { pino } from 'pino';
import { ConfigError } from '../services/vocabulary.js';
import { buildAdmin } from './admin.js';
import { createBalancer } from './balancer.js';
import { createDashboard } from './dashboard.js';
import { loadBalancerConfig, type BalancerConfig } from './config.js';
import { loadTls, type TlsPair } from './tls.js';

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
const balancer = createBalancer(config, log);
const httpsServer = tls ? balancer.attachTls(tls) : undefined;
const admin = buildAdmin(balancer, { token: config.adminToken, loggerInstance: log, dashboard: createDashboard(balancer, config, log) });

const closer = closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
  if (err) log.error({ err }, 'closing after an error');
  else log.info({ signal }, 'shutting down');
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

await listenOrExit('public', 'PORT', () => listenOn(balancer.server, config.port), config.port);
if (httpsServer) await listenOrExit('HTTPS', 'HTTPS_PORT', () => listenOn(httpsServer, config.httpsPort ?? 0), config.httpsPort ?? 0);
await listenOrExit('admin', 'ADMIN_PORT', () => admin.listen({ host: config.adminHost, port: config.adminPort }), config.adminPort);
const port = (balancer.server.address() as { port: number }).port;
const adminPort = (admin.server.address() as { port: number }).port;
const httpsPort = httpsServer ? (httpsServer.address() as { port: number }).port : undefined;
log.info({ port, adminPort, httpsPort, ...balancer.state() }, 'balancer ready');
process.send?.({ type: 'ready', instance: 'balancer', port, adminPort, httpsPort });

// Started by a launcher that has gone away (killed without a chance to stop us): do not linger as an orphan.
process.once('disconnect', () => closer.close());
