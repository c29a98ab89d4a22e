import { describe, expect, it } from 'vitest';
import { runChaos } from '../scripts/chaos/runner.js';
import { planFaults } from '../scripts/chaos/schedule.js';

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
