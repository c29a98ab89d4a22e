// npm run guide -- [docs/workshop.md]: runs every console block of a guide against real labs
// and says where the guide and the lab disagree. The workshop's dress rehearsal.
import { resolve } from 'node:path';
import { startLab } from './lab.js';
import { runGuide } from './guide/run.js';

const file = process.argv[2] ?? 'docs/workshop.md';
const report = await runGuide({
  file,
  root: resolve('.'),
  startLab: (request) =>
    startLab({
      mode: request.mode,
      instances: request.instances,
      port: 0,
      adminPort: 0,
      ...(request.revocation && { revocation: request.revocation }),
      ...(request.balancer && { balancer: request.balancer }),
      ...(request.https && { balancerEnv: { HTTPS_PORT: '0' } }),
    }),
  onStep: (line, command, ok) => console.log(`${ok ? 'ok  ' : 'FAIL'} ${file}:${line}  $ ${command.split('\n')[0]}`),
});
for (const failure of report.failures) console.log(`\n${file}:${failure.line}  $ ${failure.command}\n${failure.message}`);
for (const skip of report.skipped) console.log(`skipped ${file}:${skip.line} (${skip.reason})`);
console.log(`\n${report.ran} commands run, ${report.failures.length} differ; ${report.skipped.length} blocks not run (marked skip)`);
process.exitCode = report.failures.length === 0 ? 0 : 1;
