import type { AppliedFault, ChaosRecord, MemorySample, RequestEvent } from './record.js';

export interface InvariantResult {
  name: string;
  /** The promise, in a sentence. */
  promise: string;
  passed: boolean;
  /** What was checked, and on failure the first offending events. */
  evidence: string[];
}

export interface InvariantLimits {
  /** A 503 this long after the fault that explains it ended is the lab's fault, not the fault's. */
  graceMs: number;
  /** Resident memory no process may exceed. */
  memoryCapMiB: number;
  /** How far a process's memory may grow from the first quarter of the run to the last. */
  memoryGrowthMiB: number;
}

export const DEFAULT_LIMITS: InvariantLimits = { graceMs: 5000, memoryCapMiB: 512, memoryGrowthMiB: 128 };

const SHOWN = 5;
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const describe = (r: RequestEvent) => `${seconds(r.at)} user ${r.user} ${r.kind} -> ${r.status}${r.error ? ` ${r.error}` : ''}${r.servedBy ? ` (${r.servedBy})` : ''}`;
export const faultName = (f: Pick<AppliedFault, 'id' | 'kind' | 'target'>) => `fault ${f.id} ${f.kind}${f.target ? ` ${f.target}` : ''}`;

/** The lab's promises, judged on what a chaos run recorded: pure, so each one is unit-tested. */
export function checkInvariants(record: ChaosRecord, limits: InvariantLimits = DEFAULT_LIMITS): InvariantResult[] {
  return [noServerErrors(record), retryAfterOn503(record), outagesEndWithFaults(record, limits), labRecovers(record), sessionsKept(record), memoryBounded(record.memory, limits), nothingLeftBehind(record)];
}

function result(name: string, promise: string, offending: string[], checked: string): InvariantResult {
  const evidence = offending.length === 0 ? [checked] : [`${offending.length} violation(s) of ${checked}`, ...offending.slice(0, SHOWN)];
  return { name, promise, passed: offending.length === 0, evidence };
}

export function noServerErrors(record: ChaosRecord): InvariantResult {
  const offending = [
    ...record.requests.filter((r) => r.status === 500).map(describe),
    ...record.adminErrors.filter((e) => e.status === 500).map((e) => `${seconds(e.at)} admin ${e.action} -> 500 ${e.message}`),
  ];
  return result('no-500', 'no response 500, from the balancer, an instance or the admin API', offending, `${record.requests.length} requests and every admin call`);
}

export function retryAfterOn503(record: ChaosRecord): InvariantResult {
  const all = record.requests.filter((r) => r.status === 503);
  const offending = all.filter((r) => !r.retryAfter).map(describe);
  return result('503-retry-after', 'every 503 carries Retry-After', offending, `${all.length} answers 503`);
}

/** The fault active (or just ended, within graceMs) at `at`, if any. */
export function explainingFault(faults: readonly AppliedFault[], at: number, graceMs: number): AppliedFault | undefined {
  return faults.find((f) => at >= f.start - 250 && at <= f.end + graceMs);
}

export function outagesEndWithFaults(record: ChaosRecord, limits: InvariantLimits): InvariantResult {
  const all = record.requests.filter((r) => r.status === 503);
  const offending = all.filter((r) => !explainingFault(record.faults, r.at, limits.graceMs)).map((r) => `${describe(r)}: no fault active, none ended within ${seconds(limits.graceMs)}`);
  return result('503-ends-with-fault', `a 503 comes only during a fault, or within ${seconds(limits.graceMs)} after it ended`, offending, `${all.length} answers 503 against ${record.faults.length} fault windows`);
}

export function labRecovers(record: ChaosRecord): InvariantResult {
  const offending = record.faults.filter((f) => !f.recovered && !f.interrupted).map((f) => `${faultName(f)}: the lab was not whole again ${seconds(f.end - f.start)} after it started${f.note ? ` (${f.note})` : ''}`);
  return result('recovers', 'after every fault the lab is whole again: every instance up, on the lab\'s store', offending, `${record.faults.length} faults`);
}

/**
 * The shared store keeps sessions through every fault. The lab runs in redis mode except during
 * a mode fault; memory and sticky lose sessions by design, and a store switch starts every
 * logbook afresh. So a lost session is explained only by a mode fault that overlaps its life
 * (from the login that made it, to the 401).
 */
export function explainLoss(faults: readonly AppliedFault[], loss: { at: number; loginAt: number }): AppliedFault | undefined {
  return faults.find((f) => f.kind === 'mode' && f.start <= loss.at && f.end >= loss.loginAt);
}

export function sessionsKept(record: ChaosRecord): InvariantResult {
  const losses = record.requests.filter((r) => r.lostSession);
  const explained = new Map<string, number>();
  const offending: string[] = [];
  for (const r of losses) {
    const fault = explainLoss(record.faults, { at: r.at, loginAt: r.lostSession!.loginAt });
    if (fault) explained.set(faultName(fault), (explained.get(faultName(fault)) ?? 0) + 1);
    else offending.push(`${describe(r)} ${r.lostSession!.reason ?? ''}: session made at ${seconds(r.lostSession!.loginAt)}, in redis mode all along`);
  }
  const checked = `${losses.length} sessions lost${explained.size ? `, explained by the store switch of ${[...explained].map(([f, n]) => `${f} (${n})`).join(', ')}` : ''}`;
  return result('redis-keeps-sessions', 'in redis mode no session is lost; every loss is explained by a mode switch it lived through', offending, checked);
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
};

export function memoryBounded(samples: readonly MemorySample[], limits: InvariantLimits): InvariantResult {
  const byProcess = new Map<string, MemorySample[]>();
  for (const s of samples) byProcess.set(s.process, [...(byProcess.get(s.process) ?? []), s]);
  const offending: string[] = [];
  const figures: string[] = [];
  for (const [name, series] of byProcess) {
    const peak = Math.max(...series.map((s) => s.rssMiB));
    const quarter = Math.max(1, Math.floor(series.length / 4));
    const first = median(series.slice(0, quarter).map((s) => s.rssMiB));
    const last = median(series.slice(-quarter).map((s) => s.rssMiB));
    figures.push(`${name} ${first.toFixed(0)} -> ${last.toFixed(0)} MiB (peak ${peak.toFixed(0)})`);
    if (peak > limits.memoryCapMiB) offending.push(`${name}: peak ${peak.toFixed(0)} MiB > ${limits.memoryCapMiB} MiB`);
    if (last - first > limits.memoryGrowthMiB) offending.push(`${name}: grew ${(last - first).toFixed(0)} MiB (> ${limits.memoryGrowthMiB}) from the first quarter of the run to the last`);
  }
  const checked = samples.length === 0 ? 'no samples (resident memory is read from /proc: Linux only)' : `resident memory, first quarter -> last quarter: ${figures.join(', ')}`;
  return result('memory-bounded', `every process stays under ${limits.memoryCapMiB} MiB and grows less than ${limits.memoryGrowthMiB} MiB over the run`, offending, checked);
}

export function nothingLeftBehind(record: ChaosRecord): InvariantResult {
  const { processes, ports, dirs, checked } = record.leftovers;
  const offending = [...processes.map((p) => `process ${p.name} (pid ${p.pid}) still running`), ...ports.map((p) => `port ${p} still accepts connections`), ...dirs.map((d) => `${d} still exists`)];
  return result('nothing-left-behind', 'after the run no process, port or temporary directory is left', offending, `${checked.processes} processes, ${checked.ports} ports, ${checked.dirs} temporary directories`);
}
