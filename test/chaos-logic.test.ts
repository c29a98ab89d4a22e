import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, checkInvariants, explainLoss } from '../scripts/chaos/invariants.js';
import type { AppliedFault, ChaosRecord, RequestEvent } from '../scripts/chaos/record.js';
import { FAULT_KINDS, planFaults } from '../scripts/chaos/schedule.js';

// The chaos run's pure parts: the schedule from the seed, and the invariants over a record.

describe('the fault schedule', () => {
  const options = { durationMs: 120_000, instances: 3 };

  it('is the same for the same seed and differs for another', () => {
    expect(planFaults(42, options)).toEqual(planFaults(42, options));
    expect(planFaults(43, options)).not.toEqual(planFaults(42, options));
  });

  it('keeps faults apart and inside the run, after the warm-up and before the cool-down', () => {
    for (let seed = 0; seed < 50; seed++) {
      const faults = planFaults(seed, { ...options, warmupMs: 3000, cooldownMs: 4000 });
      expect(faults.length).toBeGreaterThan(5);
      expect(faults[0]!.at).toBe(3000);
      for (const [i, f] of faults.entries()) {
        expect(f.id).toBe(i + 1);
        if (i > 0) expect(f.at).toBeGreaterThan(faults[i - 1]!.at + faults[i - 1]!.holdMs);
        expect(f.at + f.holdMs).toBeLessThan(options.durationMs - 4000);
        if (f.target) expect(f.target).toMatch(/^app-[123]$/);
        expect(Boolean(f.target)).toBe(['crash', 'sigterm', 'slow'].includes(f.kind));
        expect(Boolean(f.mode)).toBe(f.kind === 'mode');
        if (f.kind === 'redis-pause') expect(f.holdMs % 1000).toBe(0);
      }
    }
  });

  it('brings every kind once per round of seven', () => {
    const kinds = planFaults(5, { durationMs: 600_000, instances: 3 }).map((f) => f.kind);
    expect(new Set(kinds.slice(0, 7))).toEqual(new Set(FAULT_KINDS));
    expect(new Set(kinds.slice(7, 14))).toEqual(new Set(FAULT_KINDS));
  });

  it('plans nothing when the run is too short for a fault', () => {
    expect(planFaults(1, { durationMs: 5000, instances: 3 })).toEqual([]);
  });
});

describe('the invariants', () => {
  const request = (over: Partial<RequestEvent>): RequestEvent => ({ at: 1000, user: 0, kind: 'read', status: 200, servedBy: 'app-1', error: null, retryAfter: null, latencyMs: 3, ...over });
  const fault = (over: Partial<AppliedFault>): AppliedFault => ({ id: 1, kind: 'crash', target: 'app-1', start: 10_000, end: 12_000, recovered: true, ...over });
  const record = (over: Partial<ChaosRecord>): ChaosRecord => ({
    seed: 1,
    durationMs: 60_000,
    planned: [],
    faults: [],
    requests: [request({})],
    adminErrors: [],
    memory: [],
    leftovers: { processes: [], ports: [], dirs: [], checked: { processes: 5, ports: 5, dirs: 2 } },
    ...over,
  });
  const failed = (r: ChaosRecord) => checkInvariants(r).filter((i) => !i.passed).map((i) => i.name);

  it('all hold for a quiet run', () => {
    expect(failed(record({}))).toEqual([]);
  });

  it('no-500: a 500 from a user request or the admin API', () => {
    expect(failed(record({ requests: [request({ status: 500, error: 'internal' })] }))).toEqual(['no-500']);
    expect(failed(record({ adminErrors: [{ at: 1, action: 'mode redis', status: 500, message: 'boom' }] }))).toEqual(['no-500']);
    // A 409 from the admin API is an answer, not a crash.
    expect(failed(record({ adminErrors: [{ at: 1, action: 'mode redis', status: 409, message: 'refused' }] }))).toEqual([]);
  });

  it('503s: each with Retry-After, each during a fault or within the grace after it', () => {
    const faults = [fault({ kind: 'redis-restart', target: null })];
    expect(failed(record({ faults, requests: [request({ at: 11_000, status: 503, retryAfter: '1' })] }))).toEqual([]);
    expect(failed(record({ faults, requests: [request({ at: 11_000, status: 503 })] }))).toEqual(['503-retry-after']);
    expect(failed(record({ faults, requests: [request({ at: 12_000 + DEFAULT_LIMITS.graceMs - 1, status: 503, retryAfter: '1' })] }))).toEqual([]);
    const late = checkInvariants(record({ faults, requests: [request({ at: 12_000 + DEFAULT_LIMITS.graceMs + 1, status: 503, retryAfter: '1' })] }));
    expect(late.find((i) => !i.passed)).toMatchObject({ name: '503-ends-with-fault', evidence: [expect.stringMatching(/^1 violation/), expect.stringMatching(/17\.0 s user 0 read -> 503.*no fault active/)] });
  });

  it('recovers: a fault after which the lab was not whole again', () => {
    expect(failed(record({ faults: [fault({ recovered: false, note: 'app-1 was not restarted' })] }))).toEqual(['recovers']);
  });

  it('a lost session is explained only by a mode switch it lived through', () => {
    const mode = fault({ id: 2, kind: 'mode', target: 'sticky', start: 20_000, end: 25_000 });
    const crash = fault({ id: 1 });
    const lost = (at: number, loginAt: number) => request({ at, status: 401, error: 'not_logged_in', lostSession: { loginAt, reason: 'unknown_session' } });
    // Made during the sticky window, lost after the switch back to redis.
    expect(explainLoss([crash, mode], { at: 26_000, loginAt: 21_000 })).toBe(mode);
    // Made before the window, lost inside it.
    expect(explainLoss([crash, mode], { at: 22_000, loginAt: 5000 })).toBe(mode);
    // A crash in redis mode explains nothing: the shared store keeps sessions.
    expect(explainLoss([crash, mode], { at: 11_000, loginAt: 5000 })).toBeUndefined();
    expect(explainLoss([crash, mode], { at: 30_000, loginAt: 26_000 })).toBeUndefined();
    expect(failed(record({ faults: [crash, mode], requests: [lost(26_000, 21_000)] }))).toEqual([]);
    const result = checkInvariants(record({ faults: [crash, mode], requests: [lost(26_000, 21_000)] })).find((i) => i.name === 'redis-keeps-sessions')!;
    expect(result.evidence[0]).toMatch(/1 sessions lost, explained by the store switch of fault 2 mode sticky \(1\)/);
    expect(failed(record({ faults: [crash, mode], requests: [lost(11_000, 5000)] }))).toEqual(['redis-keeps-sessions']);
  });

  it('memory: over the cap, or growing from the first quarter of the run to the last', () => {
    const series = (process: string, values: number[]) => values.map((rssMiB, i) => ({ at: i * 1000, process, pid: 1, rssMiB }));
    expect(failed(record({ memory: series('balancer', [100, 110, 105, 108, 112, 109, 111, 110]) }))).toEqual([]);
    expect(failed(record({ memory: series('balancer', [100, 110, 600, 108]) }))).toEqual(['memory-bounded']);
    expect(failed(record({ memory: series('app-1', [100, 100, 150, 200, 250, 300, 350, 400]) }))).toEqual(['memory-bounded']);
  });

  it('nothing left behind: a process, a port or a directory', () => {
    const left = (over: Partial<ChaosRecord['leftovers']>) => record({ leftovers: { processes: [], ports: [], dirs: [], checked: { processes: 5, ports: 5, dirs: 2 }, ...over } });
    expect(failed(left({ processes: [{ name: 'app-2', pid: 123 }] }))).toEqual(['nothing-left-behind']);
    expect(failed(left({ ports: [40000] }))).toEqual(['nothing-left-behind']);
    expect(failed(left({ dirs: ['/tmp/coatcheck-sim-x'] }))).toEqual(['nothing-left-behind']);
  });
});
