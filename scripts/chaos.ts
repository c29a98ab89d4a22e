// npm run chaos -- [--duration S] [--seed N] [--json] [--verbose]
import { parseArgs } from 'node:util';
import { cliErrors, type Cli } from './lib/cli.js';
import { chaosJson, renderChaos } from './chaos/report.js';
import { runChaos } from './chaos/runner.js';

const HELP = `coatcheck chaos: virtual users click through the lab while faults happen; check its promises

  npm run chaos -- [options]

A lab of its own in redis mode (3 instances, a redis-server with appendonly), virtual users
all along, and faults one at a time, from a schedule the seed decides: an instance crashed
(SIGKILL) or stopped (SIGTERM), frozen (SIGSTOP, then SIGCONT), Redis paused or restarted,
a switch to memory or sticky mode and back, an instance added and removed.

  --duration <S>   seconds of traffic (default 60)
  --seed <N>       the fault schedule and the users' order (default 1): same seed, same schedule
  --json           the report as one JSON document on stdout (the progress goes to stderr)
  --verbose        print the lab's log lines (stderr)
  -h, --help

Exit code 0 when every invariant holds, 1 when one is violated, 130 when interrupted.
`;

const cli: Cli = cliErrors('chaos', 'npm run chaos -- --help for the options');

let values;
try {
  ({ values } = parseArgs({
    options: {
      duration: { type: 'string', default: '60' },
      seed: { type: 'string', default: '1' },
      json: { type: 'boolean', default: false },
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
const durationMs = cli.wholeNumber('duration', values.duration, 10, 3600) * 1000;
const seed = cli.wholeNumber('seed', values.seed, 0, 2 ** 32 - 1);

const abort = new AbortController();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\nchaos: ${signal}, stopping the faults and the lab...`);
    abort.abort();
    // A second Ctrl-C while cleaning up leaves at once.
    process.once(signal, () => process.exit(130));
  });
}

try {
  const report = await runChaos({
    seed,
    durationMs,
    signal: abort.signal,
    onProgress: (line) => console.error(`chaos: ${line}`),
    ...(values.verbose && { onLine: (name: string, line: string) => console.error(`[${name}] ${line}`) }),
  });
  if (values.json) console.log(JSON.stringify(chaosJson(report), null, 2));
  else console.log(renderChaos(report));
  if (report.interrupted) process.exit(130);
  process.exit(report.invariants.every((i) => i.passed) ? 0 : 1);
} catch (err) {
  if (abort.signal.aborted) process.exit(130);
  console.error(`chaos: ${(err as Error).message}`);
  process.exit(1);
}
