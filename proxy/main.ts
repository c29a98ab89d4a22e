import closeWithGrace from 'close-with-grace';
import { pino } from 'pino';
import { ConfigError } from '../services/errors.js';
import { buildAdmin } from './admin.js';
import { createBalancer } from './balancer.js';
import { loadBalancerConfig } from './config.js';

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

const log = pino({ level: config.logLevel, base: { instance: 'balancer' } });
const balancer = createBalancer(config, log);
const admin = buildAdmin(balancer, { token: config.adminToken, loggerInstance: log });

const closer = closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
  if (err) log.error({ err }, 'closing after an error');
  else log.info({ signal }, 'shutting down');
  await Promise.all([balancer.close(), admin.close()]);
});

await new Promise<void>((resolve, reject) => {
  balancer.server.once('error', reject);
  balancer.server.listen(config.port, config.host, () => resolve());
});
await admin.listen({ host: config.adminHost, port: config.adminPort });
const port = (balancer.server.address() as { port: number }).port;
const adminPort = (admin.server.address() as { port: number }).port;
log.info({ port, adminPort, ...balancer.state() }, 'balancer ready');
process.send?.({ type: 'ready', instance: 'balancer', port, adminPort });

// Started by a launcher that has gone away (killed without a chance to stop us): do not linger as an orphan.
process.once('disconnect', () => closer.close());
