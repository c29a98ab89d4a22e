import closeWithGrace from 'close-with-grace';
import { pino } from 'pino';
import { ConfigError } from '../services/errors.js';
import { buildAdmin } from './admin.js';
import { createBalancer } from './balancer.js';
import { createDashboard } from './dashboard.js';
import { loadBalancerConfig } from './config.js';
import { loadTls, type TlsPair } from './tls.js';

// The only balancer file that reads the environment, listens and handles signals.
let config;
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

await new Promise<void>((resolve, reject) => {
  balancer.server.once('error', reject);
  balancer.server.listen(config.port, config.host, () => resolve());
});
if (httpsServer) {
  await new Promise<void>((resolve, reject) => {
    httpsServer.once('error', reject);
    httpsServer.listen(config.httpsPort, config.host, () => resolve());
  });
}
await admin.listen({ host: config.adminHost, port: config.adminPort });
const port = (balancer.server.address() as { port: number }).port;
const adminPort = (admin.server.address() as { port: number }).port;
const httpsPort = httpsServer ? (httpsServer.address() as { port: number }).port : undefined;
log.info({ port, adminPort, httpsPort, ...balancer.state() }, 'balancer ready');
process.send?.({ type: 'ready', instance: 'balancer', port, adminPort, httpsPort });

// Started by a launcher that has gone away (killed without a chance to stop us): do not linger as an orphan.
process.once('disconnect', () => closer.close());
