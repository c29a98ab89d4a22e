import { arch, cpus, platform } from 'node:os';
import { parseArgs } from 'node:util';
import { cliErrors, type Cli } from '../lib/cli.js';
import { runFailover, type FailoverReport } from './failover.js';

export const FAILOVER_HELP = `       redis-failover  the Redis primary behind Sentinel is killed under logins and lookups,
                       without and with a write guard (needs redis-sentinel); its own options:
                       --lag-ms <ms> replicas cut off this long before the kill (default 300),
                       --guard-ms <ms> the guard's WAIT timeout (default 100), --warmup-ms (default 1500)`;

export function isFailoverRun(argv: readonly string[]): boolean {
  const at = argv.findIndex((a) => a === '--scenario' || a.startsWith('--scenario='));
  return at >= 0 && (argv[at] === '--scenario=redis-failover' || argv[at + 1] === 'redis-failover');
}

const cli: Cli = cliErrors('simulate', 'npm run simulate -- --help for the options');

function table(reports: FailoverReport[]): string {
  const head = ['write guard', 'lag at kill', 'logins 200', 'logins 503', 'lost logins', 'lookups', '503s', 'status 500', '503 window', 'failover', 'all serving'];
  const rows = reports.map((r) => [
    r.guard,
    `${r.lagBytesAtKill} B`,
    String(r.logins.ok),
    String(r.logins.refused503),
    `${r.lostLogins} of ${r.loginsChecked}`,
    String(r.lookups.total),
    String(r.lookups.unavailable503),
    String(r.lookups.status500),
    r.window.firstMs === null ? 'none' : `${r.window.ms} ms (${r.window.firstMs} to ${r.window.lastMs} ms after the kill)`,
    `${r.failoverMs} ms`,
    `${r.recoveredMs} ms`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(head), ...rows.map(line)].join('\n');
}

/** npm run simulate -- --scenario redis-failover [...]: runs both variants, prints, exits. */
export async function runFailoverCli(argv: string[]): Promise<never> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        scenario: { type: 'string' },
        instances: { type: 'string', default: '3' },
        concurrency: { type: 'string', default: '16' },
        'lag-ms': { type: 'string', default: '300' },
        'guard-ms': { type: 'string', default: '100' },
        'warmup-ms': { type: 'string', default: '1500' },
        json: { type: 'boolean', default: false },
        verbose: { type: 'boolean', default: false },
      },
    });
  } catch (err) {
    cli.fail(`${(err as Error).message} (redis-failover takes --instances, --concurrency, --lag-ms, --guard-ms, --warmup-ms, --json, --verbose)`);
  }
  const { values } = parsed;
  const base = {
    instances: cli.wholeNumber('instances', values.instances, 1, 16),
    concurrency: cli.wholeNumber('concurrency', values.concurrency, 1, 256),
    lagMs: cli.wholeNumber('lag-ms', values['lag-ms'], 0, 5000),
    warmupMs: cli.wholeNumber('warmup-ms', values['warmup-ms'], 200, 60_000),
    ...(values.verbose && { onLine: (name: string, line: string) => console.error(`[${name}] ${line}`) }),
  };
  const guardMs = cli.wholeNumber('guard-ms', values['guard-ms'], 1, 5000);
  const reports: FailoverReport[] = [];
  try {
    for (const guard of [0, guardMs]) {
      process.stderr.write(`redis-failover: ${guard ? `write guard WAIT 1 ${guard} ms` : 'no write guard'}...\n`);
      reports.push(await runFailover({ ...base, guardMs: guard }));
    }
  } catch (err) {
    console.error(`simulate: ${(err as Error).message}`);
    process.exit(1);
  }
  if (values.json) {
    console.log(JSON.stringify({ tool: 'coatcheck simulate', scenario: 'redis-failover', machine: { node: process.version, platform: platform(), arch: arch(), cpus: cpus().length }, options: { ...base, guardMs }, results: reports }, null, 2));
  } else {
    console.log(`simulate --scenario redis-failover: ${base.instances} instances, ${base.concurrency} virtual users at a time (each logs in, then 3 lookups);`);
    console.log(`the replicas' links are cut ${base.lagMs} ms before the primary is killed (SIGKILL); Sentinel promotes a replica\n`);
    console.log(table(reports));
    console.log('\nlost logins: answered 200, then 401 after the failover (the primary died before a replica had the session).');
    console.log('The guard WAITs for one replica after each session write and answers 503 when none confirms in time:');
    console.log('a login it acknowledged is on a replica, and Sentinel promotes the replica with the most data.');
  }
  process.exit(reports.some((r) => r.lookups.status500 > 0) ? 1 : 0);
}
