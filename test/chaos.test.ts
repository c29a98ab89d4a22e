import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { runChaos } from '../scripts/chaos/runner.js';
import { planFaults } from '../scripts/chaos/schedule.js';
import { entry } from '../scripts/lib/processes.js';
import { waitFor } from './helpers/lab.js';

// The short chaos run of CI: 20 s with a fixed seed whose schedule switches to memory mode and
// back, crashes an instance and freezes another. Every invariant must hold, and nothing may be
// left behind. The invariants judge each outcome against the fault's recorded window, with a
// generous grace, so a busy machine makes the run slower, not red.
const SEED = 3;
const DURATION_MS = 20_000;

describe('npm run chaos, short', () => {
  it(`seed ${SEED}, ${DURATION_MS / 1000} s: 0 violated invariants, nothing left behind`, async () => {
    const report = await runChaos({ seed: SEED, durationMs: DURATION_MS });
    const violated = report.invariants.filter((i) => !i.passed);
    expect(violated, JSON.stringify(violated, null, 2)).toEqual([]);
    expect(report.record.planned).toEqual(planFaults(SEED, { durationMs: DURATION_MS, instances: 3, cooldownMs: 3000 }));
    expect(report.record.faults.map((f) => f.kind)).toEqual(report.record.planned.map((f) => f.kind));
    expect(report.record.leftovers).toMatchObject({ processes: [], ports: [], dirs: [] });
    expect(report.record.requests.length).toBeGreaterThan(100);
    console.log(`chaos: ${report.record.requests.length} requests, ${JSON.stringify(report.statuses)}, faults ${report.record.faults.map((f) => `${f.kind}@${(f.start / 1000).toFixed(1)}-${(f.end / 1000).toFixed(1)}`).join(' ')}`);
  }, 90_000);
});

describe('npm run chaos, interrupted', () => {
  it('Ctrl-C (SIGINT to the whole process group, as a terminal sends it) stops the run, leaves nothing behind and exits 130', async () => {
    const { file, execArgv } = entry('scripts/chaos.ts');
    // Its own process group, like a shell job: the signal reaches the lab's processes too.
    const child = spawn(process.execPath, [...execArgv, file, '--duration', '60', '--seed', '1', '--json'], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await waitFor(() => /fault 1 /.test(stderr), 'the first fault', 30_000);
      process.kill(-child.pid!, 'SIGINT');
      expect(await exited).toBe(130);
    } finally {
      if (child.exitCode === null) process.kill(-child.pid!, 'SIGKILL');
    }
    const report = JSON.parse(stdout) as { interrupted: boolean; violated: number; leftovers: { processes: unknown[]; ports: unknown[]; dirs: unknown[] } };
    expect(report).toMatchObject({ interrupted: true, violated: 0, leftovers: { processes: [], ports: [], dirs: [] } });
    // Not one process of its group is left.
    expect(() => process.kill(-child.pid!, 0)).toThrow(/ESRCH/);
  }, 60_000);
});
