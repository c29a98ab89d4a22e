import closeWithGrace from 'close-with-grace';
import { buildApp } from './app.js';
import { loadConfig } from './config.js';
import { ConfigError } from './vocabulary.js';

// The only file that reads the environment, listens and handles signals.
let config;
try {
  config = loadConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(`coatcheck instance: ${err.message}`);
    process.exit(78); // EX_CONFIG
  }
  throw err;
}

const app = await buildApp(config, {
  logger: { level: config.logLevel, base: { instance: config.instanceId } },
  // A crash, not a shutdown: no graceful close, the memory logbook is simply gone.
  crash: () => process.kill(process.pid, 'SIGKILL'),
});

const closer = closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
  if (err) app.log.error({ err }, 'closing after an error');
  else app.log.info({ signal }, 'shutting down');
  // A signal is a planned stop: let the balancer route around us first, then finish in-flight requests.
  if (signal) {
    const drained = await app.drain.start(config.drainMaxMs);
    app.log.info({ drained }, 'drained, closing');
  }
  await app.close();
});

// In redis mode, listen only once the shared logbook is reachable: a balancer that routes users
// here first would otherwise get 503s from a healthy-looking instance. If Redis stays away,
// start anyway: requests then get a fast 503 and keep their cookie.
if (!(await app.sessionStore.whenReady(3000))) app.log.warn('starting before the session store answers');

let address: string;
try {
  address = await app.listen({ host: config.host, port: config.port });
} catch (err) {
  if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
  console.error(`coatcheck instance: port ${config.port} on ${config.host} is already in use: stop what holds it, or set another PORT`);
  process.exit(78);
}
const port = app.server.address();
app.log.info({ address, store: config.store }, 'instance ready');
// Parent launchers (npm start, tests) wait for this instead of sleeping.
process.send?.({ type: 'ready', instance: config.instanceId, port: typeof port === 'object' && port ? port.port : config.port });

// Started by a launcher that has gone away (killed without a chance to stop us): do not linger as an orphan.
process.once('disconnect', () => closer.close());
