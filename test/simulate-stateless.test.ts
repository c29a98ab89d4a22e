import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOwnLab, type LabDriver } from '../scripts/simulate/lab-driver.js';
import { VARIANTS, runVariant, type SimulationOptions, type SimulationReport, type VariantName } from '../scripts/simulate/scenarios.js';
import { afterKill, afterReplay, afterScaleOut, phaseRate, steady } from '../scripts/simulate/theory.js';
import { ROUTING_KINDS } from '../services/vocabulary.js';

// Stateless mode in the simulator: never logged out, whatever the routing, and the replay scenario
// (copied cookies after logout) per mode, over one real lab. Pinned and sealed results are
// deterministic: they must match theory exactly.

const OPTIONS: SimulationOptions = { users: 16, requests: 6, concurrency: 8, seed: 3, outageMs: 1000 };
const phase = (report: SimulationReport, name: string) => report.phases.find((p) => p.name === name)!;

describe('theory for the sealed card', () => {
  it('expects nobody logged out, under every routing and every event', () => {
    for (const routing of ROUTING_KINDS) {
      expect(phaseRate(steady(routing, 'sealed', 3))).toBe(0);
      expect(phaseRate(afterKill(routing, 'sealed', 3))).toBe(0);
      expect(phaseRate(afterScaleOut(routing, 'sealed', 3))).toBe(0);
    }
  });

  it('expects every replay accepted without a revocation list, none with it, and 2/9 with round-robin memory stores', () => {
    expect(phaseRate(afterReplay('round-robin', 'sealed', 3, false))).toBe(0);
    expect(phaseRate(afterReplay('round-robin', 'sealed', 3, true))).toBe(1);
    expect(phaseRate(afterReplay('round-robin', 'redis', 3, false))).toBe(1);
    expect(phaseRate(afterReplay('cookie', 'memory', 3, false))).toBe(1);
    expect(1 - phaseRate(afterReplay('round-robin', 'memory', 3, false))).toBeCloseTo(2 / 9, 10);
  });
});

describe('the simulator, stateless lab without a revocation list', () => {
  let lab: LabDriver;
  beforeAll(async () => (lab = await startOwnLab({ instances: 3, routing: 'round-robin', store: 'sealed' })));
  afterAll(() => lab?.close());

  it.each(['stateless', 'stateless-sticky', 'stateless-ip-hash', 'stateless-consistent-hash'] as VariantName[])('%s: nobody logged out', async (name) => {
    const report = await runVariant(lab, 'steady', VARIANTS[name], OPTIONS);
    expect(report.logins).toEqual({ ok: OPTIONS.users, failed: 0 });
    expect(report.requests).toBe(OPTIONS.users * OPTIONS.requests);
    expect(report.loggedOut).toBe(0);
    expect(report.expectedRate).toBe(0);
    expect(report.errors).toBe(0);
  });

  it('replay: every copied cookie is accepted after logout in stateless mode, none in sticky mode', async () => {
    const stateless = phase(await runVariant(lab, 'replay', VARIANTS.stateless, OPTIONS), 'after');
    expect(stateless.requests).toBe(OPTIONS.users * (OPTIONS.requests / 2));
    expect(stateless.loggedOut).toBe(0);
    expect(stateless.errors).toBe(0);
    const sticky = phase(await runVariant(lab, 'replay', VARIANTS.sticky, OPTIONS), 'after');
    expect(sticky.loggedOut).toBe(sticky.requests);
  });
});

describe('the simulator, stateless lab with a revocation list in Redis', () => {
  let lab: LabDriver;
  beforeAll(async () => (lab = await startOwnLab({ instances: 3, routing: 'round-robin', store: 'sealed', revocation: true })));
  afterAll(() => lab?.close());

  it('replay: every copied cookie is refused after logout', async () => {
    const report = await runVariant(lab, 'replay', { ...VARIANTS.stateless, revocation: true }, OPTIONS);
    const after = phase(report, 'after');
    expect(after.requests).toBe(OPTIONS.users * (OPTIONS.requests / 2));
    expect(after.loggedOut).toBe(after.requests);
    expect(after.expectedRate).toBe(1);
  });
});
