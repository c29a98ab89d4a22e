// npm start -- [--mode memory|sticky|redis|stateless] [--revocation none|redis] [--balancer node|haproxy] [--instances N] [--port P] [--admin-port A] [--redis single|sentinel] [--redis-url U]
import { parseArgs } from 'node:util';
import { REVOCATION_KINDS, STORE_KINDS, MODES, MODE_NAMES, ROUTING_KINDS, modeOf, type RevocationKind, type StoreKind, type ModeName, type RoutingKind } from '../services/vocabulary.js';
import { BALANCER_KINDS, type BalancerKind } from '../proxy/config.js';
import { startLab, type Lab } from './lab.js';
import { cliErrors, type Cli } from './lib/cli.js';
import { parseSentinelAddress, sentinelUrl } from '../services/stores/redis-address.js';

const HELP = `coatcheck lab: app instances behind a round-robin balancer

  npm start -- [options]

  --mode <memory|sticky|redis|stateless>   preset of routing + store (default memory)
  --routing <round-robin|cookie|ip-hash|consistent-hash>   override the mode's routing
  --store <memory|redis|sealed>  override the mode's session store
  --revocation <none|redis>      stateless mode's logout: nothing kept (default), or a revocation list in Redis
  --balancer <node|haproxy>      what serves the public port (default node; haproxy: Debian's haproxy)
  --instances <N>                app instances (default 3)
  --port <P>                     public balancer port (default 8080; 0: any free port)
  --admin-port <A>               admin API port, loopback only (default 8081; 0: any free port)
  --redis <single|sentinel>      what the lab starts: one redis-server (default), or a primary,
                                 two replicas and three Sentinels that fail over (needs redis-sentinel)
  --redis-url <U>                use this Redis instead of starting one (or REDIS_URL);
                                 redis-sentinel://host:port,.../name asks Sentinels for the primary
  --redis-sentinels <h:p,...>    use these Sentinels instead (or REDIS_SENTINELS)
  --redis-name <N>               the primary's name they watch (default mymaster, or REDIS_SENTINEL_NAME)
  --verbose                      print every log line of every process
  -h, --help
`;

const cli: Cli = cliErrors('coatcheck', HELP);

function parse() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        mode: { type: 'string', default: 'memory' },
        routing: { type: 'string' },
        store: { type: 'string' },
        revocation: { type: 'string' },
        balancer: { type: 'string', default: 'node' },
        instances: { type: 'string', default: '3' },
        port: { type: 'string', default: '8080' },
        'admin-port': { type: 'string', default: '8081' },
        redis: { type: 'string', default: 'single' },
        'redis-url': { type: 'string' },
        'redis-sentinels': { type: 'string' },
        'redis-name': { type: 'string', default: 'mymaster' },
        verbose: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (err) {
    cli.fail((err as Error).message);
  }
  if (values.help) {
    console.log(HELP);
    process.exit(0);
  }
  const mode = values.mode as ModeName;
  if (!MODE_NAMES.includes(mode)) cli.fail(`--mode must be one of ${MODE_NAMES.join(', ')}`);
  if (values.routing && !ROUTING_KINDS.includes(values.routing as RoutingKind)) cli.fail(`--routing must be one of ${ROUTING_KINDS.join(', ')}`);
  if (!BALANCER_KINDS.includes(values.balancer as BalancerKind)) cli.fail(`--balancer must be one of ${BALANCER_KINDS.join(', ')}`);
  if (values.store && !STORE_KINDS.includes(values.store as StoreKind)) cli.fail(`--store must be one of ${STORE_KINDS.join(', ')}`);
  if (values.revocation && !REVOCATION_KINDS.includes(values.revocation as RevocationKind)) cli.fail(`--revocation must be one of ${REVOCATION_KINDS.join(', ')}`);
  if (values.redis !== 'single' && values.redis !== 'sentinel') cli.fail('--redis must be single or sentinel');
  if (values['redis-url'] && values['redis-sentinels']) cli.fail('--redis-url and --redis-sentinels do not mix: give one');
  if (values.redis === 'sentinel' && (values['redis-url'] || values['redis-sentinels'])) cli.fail('--redis sentinel starts Sentinels of its own: drop --redis-url / --redis-sentinels, or --redis');
  let redisUrl = values['redis-url'];
  try {
    if (values['redis-sentinels']) redisUrl = sentinelUrl(values['redis-sentinels'].split(','), values['redis-name']);
    else if (redisUrl) parseSentinelAddress(redisUrl);
  } catch (err) {
    cli.fail((err as Error).message);
  }
  return {
    mode,
    revocation: values.revocation as RevocationKind | undefined,
    routing: values.routing as RoutingKind | undefined,
    store: values.store as StoreKind | undefined,
    balancer: values.balancer as BalancerKind,
    instances: cli.wholeNumber('instances', values.instances, 1, 32),
    port: cli.wholeNumber('port', values.port, 0, 65535),
    adminPort: cli.wholeNumber('admin-port', values['admin-port'], 0, 65535),
    redisUrl,
    redisTopology: values.redis as 'single' | 'sentinel',
    verbose: values.verbose,
  };
}

/** Children log JSON (pino); show warnings and errors as one readable line each. */
function printer(verbose: boolean) {
  return (name: string, line: string, stream: 'stdout' | 'stderr') => {
    if (verbose) return console.log(`[${name}] ${line}`);
    try {
      const entry = JSON.parse(line) as { level?: number; msg?: string; err?: unknown };
      if ((entry.level ?? 0) >= 40) console.log(`[${name}] ${entry.msg ?? ''}${entry.err ? ` (${JSON.stringify(entry.err)})` : ''}`);
    } catch {
      if (stream === 'stderr' && line.trim()) console.error(`[${name}] ${line}`);
    }
  };
}

function banner(lab: Lab, revocation: RevocationKind | undefined): string {
  const mode = modeOf(lab.routing, lab.store);
  // localhost rather than 127.0.0.1: the address a browser user types; the port is the one bound.
  const url = `http://localhost:${new URL(lab.url).port}`;
  const lines = [
    '',
    `coatcheck lab: ${mode ? `mode ${mode}` : 'custom mode'} (routing ${lab.routing}, store ${lab.store}), ${lab.instances.length} ${lab.instances.length === 1 ? 'instance' : 'instances'}${lab.balancerKind === 'haproxy' ? ', behind HAProxy' : ''}`,
    // With one instance there is no other desk to land on: nobody is "randomly" logged out yet.
    lab.instances.length === 1 ? '  one instance: every request finds its logbook; add instances to see the bug' : mode ? `  ${MODES[mode].summary}` : '',
    revocation === 'redis' ? '  revocation list in Redis: a logged-out card is refused everywhere (and Redis is needed again)' : '',
    '',
    `  balancer   ${url}   the lesson API: POST /login, GET /profile, POST /logout`,
    ...(lab.httpsUrl ? [`  https      https://localhost:${new URL(lab.httpsUrl).port}   the same over HTTPS (HTTPS_PORT; self-signed unless TLS_CERT)`] : []),
    `  dashboard  ${lab.adminUrl}/   the live lab in a browser (admin port, loopback only)`,
    `  admin      ${lab.adminUrl}   GET /api/state, PUT /api/mode (loopback only)`,
    `  instances  ${lab.instances.map((i) => `${i.id} ${i.url}`).join(', ')}`,
    `  redis      ${lab.redisUrl ? `${lab.redisUrl}${lab.redis || lab.sentinel ? ' (started by the lab)' : ''}` : 'none (redis-server not installed: the redis store is unavailable)'}`,
    ...(lab.sentinel ? [`             primary :${lab.sentinel.nodes[0]!.port}, replicas ${lab.sentinel.nodes.slice(1).map((n) => `:${n.port}`).join(' ')}; kill the primary: POST ${lab.adminUrl}/api/redis/kill-primary`] : []),
    '',
    'Try it:',
    `  curl -s -c jar.txt -H 'content-type: application/json' -d '{"username":"testuser","password":"testpass"}' ${url}/login`,
    `  for i in 1 2 3 4 5 6; do curl -s -b jar.txt -o /dev/null -w '%{http_code} %header{x-served-by}\\n' ${url}/profile; done`,
    `  curl -s -X PUT -H 'content-type: application/json' -d '{"mode":"redis"}' ${lab.adminUrl}/api/mode`,
    '',
    'Ctrl-C stops everything.',
    '',
  ];
  return lines.filter((l, i) => l !== '' || lines[i - 1] !== '').join('\n');
}

const args = parse();
let lab: Lab;
try {
  lab = await startLab({ ...args, onLine: printer(args.verbose) });
} catch (err) {
  console.error(`coatcheck: could not start the lab: ${(err as Error).message}`);
  process.exit(1);
}
lab.on('crashed', (id: string, why: unknown) => console.log(`[lab] ${id} exited (${String(why)}); restarting it empty, as a container restart policy would`));
lab.on('restarted', (instance: { id: string }) => console.log(`[lab] ${instance.id} is back (its memory store is empty)`));
lab.on('redis-promoted', (dead: number, next: number) => console.log(`[lab] Sentinel promoted :${next} to primary in place of :${dead}`));
lab.on('redis-rejoined', (dead: number, next: number) => console.log(`[lab] :${dead} is back, empty, as a replica of :${next}`));
lab.on('redis-failover-failed', (dead: number, err: Error) => console.log(`[lab] no failover after :${dead} died: ${err.message}`));
lab.on('action', (text: string) => console.log(`[lab] ${text}`));
console.log(banner(lab, args.revocation));

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    console.log(`\n[lab] ${signal}: stopping every process...`);
    lab.close().then(
      () => process.exit(0),
      (err: Error) => {
        console.error(`[lab] stop failed: ${err.message}`);
        process.exit(1);
      },
    );
  });
}
