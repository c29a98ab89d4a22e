import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { anatomyReport, anatomySvgOf } from './bench/anatomy.js';
import { chartSvg } from './bench/chart.js';
import { summarizeProfiles } from './bench/profile-summary.js';
import { DEFAULTS, QUICK, type BenchSettings } from './bench/defaults.js';
import { header, ratioLines, table } from './bench/report.js';
import { knownNames, runBench } from './bench/run.js';
import { Stack } from './bench/stack.js';
import { cliErrors, type Cli } from './lib/cli.js';

const HELP = `npm run bench [-- options]

  --quick              seconds instead of minutes (CI, a first look): figures too short to quote
  --only <names>       comma-separated rows or groups, e.g. --only redis or --only instance,nginx;
                       --only anatomy: one lookup layer by layer, then the Redis-only load
  --rounds <n>         measured rounds per row (default ${DEFAULTS.rounds})
  --duration <s>       seconds per measured run (default ${DEFAULTS.durationSec})
  --connections <n>    keep-alive connections (default ${DEFAULTS.connections})
  --out <dir>          where bench.json and bench.svg go (default: bench-results/ for a full
                       standard run, a temporary directory for --quick or --only)
  --cpu-prof           every Node process it starts writes a V8 CPU profile to
                       <out>/profiles/<process>.<pid>.cpuprofile (open in Chrome DevTools or
                       speedscope); profiles/summary.txt ranks self time by package and function
  --list               print the groups and rows, then exit

Everything it starts (redis-server, instances, balancers, nginx) listens on 127.0.0.1
on free ports and is stopped at the end, also on Ctrl-C.`;

const cli: Cli = cliErrors('bench', HELP);
const positiveInt = (raw: string | undefined, option: string, fallback: number) => (raw === undefined ? fallback : cli.wholeNumber(option, raw, 1));

let args;
try {
  args = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      rounds: { type: 'string' },
      duration: { type: 'string' },
      connections: { type: 'string' },
      out: { type: 'string' },
      list: { type: 'boolean', default: false },
      'cpu-prof': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  }).values;
} catch (err) {
  cli.fail((err as Error).message);
}
if (args.help) {
  console.log(HELP);
  process.exit(0);
}

const base = args.quick ? QUICK : DEFAULTS;
const settings: BenchSettings = {
  ...base,
  rounds: positiveInt(args.rounds, 'rounds', base.rounds),
  durationSec: positiveInt(args.duration, 'duration', base.durationSec),
  connections: positiveInt(args.connections, 'connections', base.connections),
};
const names = knownNames(settings);
if (args.list) {
  console.log(`groups: ${names.groups.join(', ')}\nrows: ${names.rows.join(', ')}`);
  process.exit(0);
}
const only = (args.only ?? '').split(',').map((s) => s.trim()).filter(Boolean);
const unknown = only.filter((n) => !names.groups.includes(n) && !names.rows.includes(n));
if (unknown.length > 0) cli.fail(`unknown row or group: ${unknown.join(', ')} (rows: ${names.rows.join(', ')}; groups: ${names.groups.join(', ')})`);

const standard = !args.quick && !args['cpu-prof'] && only.length === 0 && args.rounds === undefined && args.duration === undefined && args.connections === undefined;
// A run of its own for --quick or --only: two runs at once must not overwrite each other's results.
const outDir = resolve(args.out ?? (standard ? 'bench-results' : mkdtempSync(join(tmpdir(), 'coatcheck-bench-'))));

// Ctrl-C: stop every child this run started, then exit.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\nbench: ${signal}, stopping the processes it started`);
    void Stack.closeAll().finally(() => process.exit(130));
  });
}

try {
  const profileDir = args['cpu-prof'] ? join(outDir, 'profiles') : undefined;
  const results = await runBench(settings, { quick: args.quick, only, ...(profileDir && { profileDir }), log: (line) => console.error(line) });
  if (profileDir) console.error(`CPU profiles in ${profileDir}`);
  const anatomy = anatomyReport(results);
  const report = `${header(results)}\n\n${table(results)}\n\n${ratioLines(results.ratios)}${anatomy ? `\n\n${anatomy}` : ''}`;
  console.log(report);
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'bench.json'), `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(join(outDir, 'bench.svg'), chartSvg(results));
  writeFileSync(join(outDir, 'bench.txt'), `${report}\n`);
  if (anatomy) writeFileSync(join(outDir, 'anatomy.svg'), anatomySvgOf(results));
  if (profileDir) writeFileSync(join(profileDir, 'summary.txt'), summarizeProfiles(profileDir));
  console.error(`\nwrote ${join(outDir, 'bench.json')}, bench.svg and bench.txt`);
} catch (err) {
  console.error(`bench failed: ${(err as Error).stack ?? err}`);
  process.exitCode = 1;
}
