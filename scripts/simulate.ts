// npm run simulate -- [--mode M | --compare | --scenario S] [--instances N] [--users U] [--requests R] [--json]
import { arch, cpus, platform } from 'node:os';
import { parseArgs } from 'node:util';
import { adminClient } from '../proxy/clients/admin-client.js';
import { BALANCER_KINDS, type BalancerKind } from '../proxy/config.js';
import { REVOCATION_KINDS, STORE_KINDS, MODES, MODE_NAMES, ROUTING_KINDS, modeOf, type StoreKind, type ModeName, type RoutingKind } from '../services/vocabulary.js';
import { FAST_SCRYPT_COST } from './simulate/accounts.js';
import { SimulationError } from './simulate/lab-driver.js';
import { render } from './simulate/report.js';
import { simulate, type RunOptions } from './simulate/run.js';
import { cliErrors, type Cli } from './lib/cli.js';
import { FAILOVER_HELP, isFailoverRun, runFailoverCli } from './simulate/failover-cli.js';
import { SCENARIO_NAMES, SCENARIO_VARIANTS, VARIANTS, type ScenarioName, type Variant } from './simulate/scenarios.js';
import { raceTable, simulateRaceLab, type RaceSettings } from './simulate/race.js';

const HELP = `coatcheck simulate: virtual users log in once, then keep clicking; count who gets logged out

  npm run simulate -- [options]

What to run (one of):
  --mode <memory|sticky|redis|stateless>   one mode (default memory); --routing/--store override it
  --compare                         every mode side by side: memory, sticky, ip-hash, consistent-hash, redis,
                                    and stateless under each routing
  --scenario <name>                 halfway through, something happens; every relevant mode:
       kill-instance   an instance is killed (SIGKILL) and restarted empty
       scale-out       an instance is added
       redis-restart   Redis restarts, without and with appendonly
       redis-down      Redis is stopped for --outage-seconds, then started again
       replay          each user's cookies are copied, the user logs out, the copies are replayed
       race            one user's concurrent requests: slow cart adds with one cookie, and a
                       logout racing them; lost adds and undone logouts per store, guard on/off
  --revocation redis     stateless variants keep a revocation list in Redis (the simulator's own lab)

Race (--scenario race):
  --race-guard <on|off|both>  the stores' race guard (default both: the bug beside the fix)
  --tries <N>            races of each kind per row, at once (default 10)
  --writers <W>          concurrent slow POST /cart per race (default 20)
  --delay-ms <D>         how long each holds the session (default 1000; the lab allows up to 5000)
${FAILOVER_HELP}

Sizes:
  --instances <N>        app instances (default 3)
  --users <U>            virtual users, each with its own cookie jar and 127.10.x.y address (default 100)
  --requests <R>         follow-up requests per user after its login (default 20)
  --concurrency <C>      requests in flight at once (default 16)
  --seed <S>             order in which users act (default 1)
  --outage-seconds <T>   redis-down: how long Redis stays stopped (default 3)
  --kill <id>            kill-instance: which instance (default the first)

Lab:
  --balancer <node|haproxy>  what serves the simulator's own lab (default node; haproxy: Debian's haproxy)
  --url <U>              use a running lab's balancer (npm start) instead of starting one;
                         its mode is switched for the run and restored after
  --admin-url <A>        that lab's admin API (default http://127.0.0.1:8081)
  --admin-token <T>      its ADMIN_TOKEN, if set (or env ADMIN_TOKEN)
  --demo-accounts        log in against services/accounts.json (scrypt N=16384, ~55 ms CPU per login);
                         by default the simulator's own lab uses the same accounts hashed at N=${FAST_SCRYPT_COST}

Output:
  --json                 one JSON document on stdout instead of the table
  --verbose              print the lab's log lines (stderr)
  -h, --help
`;

const cli: Cli = cliErrors('simulate', 'npm run simulate -- --help for the options');

function parse(): RunOptions & { json: boolean; title: string; race?: RaceSettings } {
  let parsed;
  try {
    parsed = parseArgs({
      options: {
        mode: { type: 'string' },
        routing: { type: 'string' },
        store: { type: 'string' },
        compare: { type: 'boolean', default: false },
        scenario: { type: 'string' },
        revocation: { type: 'string' },
        instances: { type: 'string', default: '3' },
        users: { type: 'string', default: '100' },
        requests: { type: 'string', default: '20' },
        concurrency: { type: 'string', default: '16' },
        seed: { type: 'string', default: '1' },
        'outage-seconds': { type: 'string', default: '3' },
        kill: { type: 'string' },
        'race-guard': { type: 'string', default: 'both' },
        tries: { type: 'string', default: '10' },
        writers: { type: 'string', default: '20' },
        'delay-ms': { type: 'string', default: '1000' },
        url: { type: 'string' },
        'admin-url': { type: 'string' },
        'admin-token': { type: 'string' },
        'demo-accounts': { type: 'boolean', default: false },
        balancer: { type: 'string', default: 'node' },
        json: { type: 'boolean', default: false },
        verbose: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    cli.fail((err as Error).message);
  }
  const { values } = parsed;
  if (values.help) {
    console.log(HELP);
    process.exit(0);
  }
  if (values.mode !== undefined && !MODE_NAMES.includes(values.mode as ModeName)) cli.fail(`--mode must be one of ${MODE_NAMES.join(', ')}`);
  if (values.routing !== undefined && !ROUTING_KINDS.includes(values.routing as RoutingKind)) cli.fail(`--routing must be one of ${ROUTING_KINDS.join(', ')}`);
  if (values.store !== undefined && !STORE_KINDS.includes(values.store as StoreKind)) cli.fail(`--store must be one of ${STORE_KINDS.join(', ')}`);
  const race = values.scenario === 'race';
  if (values.scenario !== undefined && !race && !SCENARIO_NAMES.includes(values.scenario as ScenarioName)) {
    cli.fail(`--scenario must be one of ${[...SCENARIO_NAMES, 'race'].join(', ')}`);
  }
  if (race && (values.mode || values.routing || values.store || values.compare)) cli.fail('--scenario race runs the redis store and the memory store (sticky): drop --mode/--routing/--store/--compare');
  const guards = { on: [true], off: [false], both: [true, false] }[values['race-guard']];
  if (!guards) cli.fail('--race-guard must be on, off or both');
  if (!BALANCER_KINDS.includes(values.balancer as BalancerKind)) cli.fail(`--balancer must be one of ${BALANCER_KINDS.join(', ')}`);
  if (values.url && values.balancer !== 'node') cli.fail('--balancer picks what the simulator\'s own lab runs: with --url, start that lab with npm start -- --balancer haproxy');
  if (values.compare && values.scenario) cli.fail('--compare and --scenario do not mix: --scenario already runs every relevant mode');
  if (values.compare && (values.mode || values.routing || values.store)) cli.fail('--compare runs every mode: drop --mode/--routing/--store');
  for (const url of [values.url, values['admin-url']]) {
    if (url !== undefined && !/^http:\/\/[^/]+\/?$/.test(url)) cli.fail(`${url}: give an http:// origin, e.g. http://localhost:8080`);
  }

  if (values.revocation !== undefined && !REVOCATION_KINDS.includes(values.revocation as (typeof REVOCATION_KINDS)[number])) {
    cli.fail(`--revocation must be one of ${REVOCATION_KINDS.join(', ')}`);
  }
  if (values.revocation === 'redis' && values.url) cli.fail('--revocation is set when the lab starts: drop --url, or start that lab with npm start -- --revocation redis');
  const scenario = race ? 'steady' : ((values.scenario as ScenarioName | undefined) ?? 'steady');
  const chosen = values.mode !== undefined || values.routing !== undefined || values.store !== undefined;
  let variants: Variant[];
  if (values.compare || (values.scenario && !chosen)) {
    variants = SCENARIO_VARIANTS[values.compare ? 'compare' : scenario].map((name) => VARIANTS[name]);
  } else {
    const preset = MODES[(values.mode as ModeName | undefined) ?? 'memory'];
    const routing = (values.routing as RoutingKind | undefined) ?? preset.routing;
    const store = (values.store as StoreKind | undefined) ?? preset.store;
    const mode = modeOf(routing, store);
    const label = mode ?? `${routing} + ${store}`;
    if ((scenario === 'redis-restart' || scenario === 'redis-down') && store !== 'redis') cli.fail(`--scenario ${scenario} is about the redis store: use --mode redis`);
    // Over a running lab without --mode, measure it as it is.
    variants = values.url && !chosen ? [] : [{ label, routing, store, ...(scenario === 'redis-down' && { appendOnly: true }) }];
  }
  if (values.revocation === 'redis') {
    variants = variants.map((v) => (v.store === 'sealed' ? { ...v, label: `${v.label} + revocation`, revocation: true } : v));
  }

  const instances = cli.wholeNumber('instances', values.instances, 1, 16);
  const users = cli.wholeNumber('users', values.users, 1, 10_000);
  const requests = cli.wholeNumber('requests', values.requests, scenario === 'steady' ? 1 : 2, 1000);
  const title = values.compare
    ? `simulate --compare: ${instances} instances, ${users} users x ${requests} follow-up requests (after one login each)`
    : `simulate${scenario === 'steady' ? '' : ` --scenario ${scenario}`}: ${instances} instances, ${users} users x ${requests} follow-up requests (after one login each)`;
  return {
    scenario,
    variants,
    instances,
    users,
    requests,
    concurrency: cli.wholeNumber('concurrency', values.concurrency, 1, 1000),
    seed: cli.wholeNumber('seed', values.seed, 0, 2 ** 32 - 1),
    outageMs: cli.wholeNumber('outage-seconds', values['outage-seconds'], 1, 60) * 1000,
    ...(values.kill !== undefined && { killId: values.kill }),
    ...(values.url !== undefined && { url: values.url.replace(/\/$/, '') }),
    ...(values['admin-url'] !== undefined && { adminUrl: values['admin-url'].replace(/\/$/, '') }),
    ...((values['admin-token'] ?? process.env.ADMIN_TOKEN) && { adminToken: values['admin-token'] ?? process.env.ADMIN_TOKEN }),
    demoAccounts: values['demo-accounts'],
    balancer: values.balancer as BalancerKind,
    ...(values.verbose && { onLine: (name: string, line: string) => console.error(`[${name}] ${line}`) }),
    json: values.json,
    title,
    ...(race && {
      race: {
        guards,
        tries: cli.wholeNumber('tries', values.tries, 1, 100),
        writers: cli.wholeNumber('writers', values.writers, 1, 100),
        delayMs: cli.wholeNumber('delay-ms', values['delay-ms'], 100, 5000),
      },
    }),
  };
}

if (isFailoverRun(process.argv.slice(2))) await runFailoverCli(process.argv.slice(2));
const { json, title, race, ...options } = parse();
const abort = new AbortController();
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    interrupted = true;
    console.error(`\nsimulate: ${signal}, stopping the lab...`);
    abort.abort();
  });
}

try {
  if (race) {
    const rows = await simulateRaceLab(options, race);
    if (interrupted) process.exit(130);
    console.log(
      json
        ? JSON.stringify({ tool: 'coatcheck simulate', scenario: 'race', options: { tries: race.tries, writers: race.writers, delayMs: race.delayMs, instances: options.instances, lab: options.url ?? 'own' }, results: rows }, null, 2)
        : raceTable(`simulate --scenario race: ${options.instances} instances, ${race.tries} races x ${race.writers} writers, each holding the session ${race.delayMs} ms`, rows),
    );
    process.exit(0);
  }
  if (options.url && options.variants.length === 0) {
    // A running lab, no mode asked for: measure it in the mode it is in.
    const admin = adminClient(options.adminUrl ?? 'http://127.0.0.1:8081', { token: options.adminToken, timeoutMs: 10_000 });
    const state = await admin.state().catch(() => null);
    if (!state) cli.fail(`cannot read the lab's state from ${admin.url}/api/state; pass --admin-url`);
    options.variants = [{ label: modeOf(state.routing, state.store) ?? `${state.routing} + ${state.store}`, ...state, revocation: state.revocation === 'redis' }];
  }
  const started = new Date();
  const reports = await simulate({ ...options, signal: abort.signal });
  if (interrupted) process.exit(130);
  if (json) {
    const document = {
      tool: 'coatcheck simulate',
      startedAt: started.toISOString(),
      machine: { node: process.version, platform: platform(), arch: arch(), cpus: cpus().length },
      options: {
        scenario: options.scenario,
        instances: options.instances,
        users: options.users,
        requests: options.requests,
        concurrency: options.concurrency,
        seed: options.seed,
        ...(options.scenario === 'redis-down' && { outageMs: options.outageMs }),
        lab: options.url ?? 'own',
      },
      results: reports,
    };
    console.log(JSON.stringify(document, null, 2));
  } else {
    console.log(render(title, reports));
  }
} catch (err) {
  if (interrupted) process.exit(130);
  if (err instanceof SimulationError) cli.fail(err.message);
  console.error(`simulate: ${(err as Error).message}`);
  process.exit(1);
}
