import { loadavg } from 'node:os';
import { round, type CpuUse } from './cpu.js';
import { CPU_BOUND_SHARE, type BenchSettings } from './defaults.js';
import { measure, type RunResult } from './load.js';
import { machineInfo, versions } from './machine.js';
import { ratios, type Ratio } from './ratios.js';
import { benchGroups, type GroupSpec, type Target } from './rows.js';

export interface RowResult {
  name: string;
  group: string;
  title: string;
  /** Why the row was not measured (nginx not installed). */
  skipped?: string;
  rounds: RunResult[];
  median?: {
    rps: number;
    okRps: number;
    p50Ms: number;
    p99Ms: number;
    /** Median over rounds, per process: share of one core and CPU µs per request. */
    cpu: Record<string, { share: number; usPerRequest: number }>;
  };
  non2xx: number;
  errors: number;
  /** Median size of the Cookie header the load sends (the wristband, or the whole sealed card). */
  cookieBytes?: number;
  /** The busiest process, and whether it was pegged (>= CPU_BOUND_SHARE of a core). */
  busiest?: { process: string; share: number; bound: boolean };
}

export interface BenchResults {
  startedAt: string;
  finishedAt: string;
  quick: boolean;
  settings: BenchSettings;
  machine: ReturnType<typeof machineInfo> & { loadAverageAtEnd?: number[] };
  versions: ReturnType<typeof versions>;
  groups: { name: string; title: string; rows: string[]; extra?: Record<string, unknown> }[];
  rows: RowResult[];
  ratios: Ratio[];
}

export interface RunOptions {
  quick: boolean;
  /** Row or group names; empty: everything. */
  only: string[];
  /** Write a V8 CPU profile of every Node child here (--cpu-prof). */
  profileDir?: string;
  log?: (line: string) => void;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Every row and group name --only accepts. */
export function knownNames(settings: BenchSettings): { groups: string[]; rows: string[] } {
  const groups = benchGroups(settings);
  return { groups: groups.map((g) => g.name), rows: groups.flatMap((g) => g.rows.map((r) => r.name)) };
}

export function summarize(row: RowResult): RowResult {
  if (row.rounds.length === 0) return row;
  const processes = new Set(row.rounds.flatMap((r) => Object.keys(r.cpu)));
  const cpu: Record<string, { share: number; usPerRequest: number }> = {};
  for (const name of processes) {
    const uses = row.rounds.map((r) => r.cpu[name]).filter((u): u is CpuUse => u !== undefined);
    cpu[name] = { share: round(median(uses.map((u) => u.share)), 3), usPerRequest: round(median(uses.map((u) => u.usPerRequest)), 1) };
  }
  const [top] = Object.entries(cpu).sort((a, b) => b[1].share - a[1].share);
  return {
    ...row,
    median: {
      rps: round(median(row.rounds.map((r) => r.rps)), 1),
      okRps: round(median(row.rounds.map((r) => r.okRps)), 1),
      p50Ms: median(row.rounds.map((r) => r.latencyMs.p50)),
      p99Ms: median(row.rounds.map((r) => r.latencyMs.p99)),
      cpu,
    },
    non2xx: row.rounds.reduce((sum, r) => sum + r.non2xx, 0),
    errors: row.rounds.reduce((sum, r) => sum + r.errors, 0),
    ...(top && { busiest: { process: top[0], share: top[1].share, bound: top[1].share >= CPU_BOUND_SHARE } }),
  };
}

async function runGroup(group: GroupSpec, wanted: (name: string) => boolean, settings: BenchSettings, log: (line: string) => void) {
  const rows = group.rows.filter((r) => wanted(r.name) || wanted(group.name));
  const results: RowResult[] = rows.map((r) => ({ name: r.name, group: group.name, title: r.title, rounds: [], non2xx: 0, errors: 0 }));
  try {
    const targets: (Target | null)[] = [];
    for (const [i, row] of rows.entries()) {
      log(`  preparing ${row.name}`);
      const target = await row.prepare();
      if (typeof target === 'string') {
        results[i]!.skipped = target;
        log(`  ${row.name}: ${target}`);
        targets.push(null);
      } else {
        targets.push(target);
        results[i]!.cookieBytes = median(target.cookies.map((c) => Buffer.byteLength(c)));
      }
    }
    // Rows alternate within each round, starting one further along every round, so a noisy
    // neighbour or a slow drift hits every row alike rather than whichever ran last.
    for (let round = 0; round < settings.rounds; round++) {
      for (let k = 0; k < rows.length; k++) {
        const i = (k + round) % rows.length;
        const target = targets[i];
        if (!target) continue;
        const result = await measure(
          {
            url: target.url,
            cookies: target.cookies,
            connections: settings.connections,
            durationSec: settings.durationSec,
            tracked: target.tracked,
            ...(target.request && { request: target.request }),
          },
          settings.warmupSec,
        );
        results[i]!.rounds.push(result);
        log(`  round ${round + 1}/${settings.rounds} ${rows[i]!.name}: ${Math.round(result.rps)} req/s, ${result.non2xx} non-2xx, p99 ${result.latencyMs.p99} ms`);
      }
    }
    const extra = await group.finish?.();
    return { results: results.map(summarize), extra };
  } finally {
    await group.close();
  }
}

/** Runs the matrix (or the rows --only names) and returns every figure, round by round. */
export async function runBench(settings: BenchSettings, options: RunOptions): Promise<BenchResults> {
  const log = options.log ?? (() => {});
  const wanted = (name: string) => options.only.length === 0 || options.only.includes(name);
  const startedAt = new Date().toISOString();
  const machine = machineInfo();
  const groups: BenchResults['groups'] = [];
  const rows: RowResult[] = [];
  for (const group of benchGroups(settings, options.profileDir)) {
    if (!group.rows.some((r) => wanted(r.name)) && !wanted(group.name)) {
      await group.close();
      continue;
    }
    log(`${group.title}`);
    const { results, extra } = await runGroup(group, wanted, settings, log);
    rows.push(...results);
    groups.push({ name: group.name, title: group.title, rows: results.map((r) => r.name), ...(extra && { extra }) });
  }
  return {
    startedAt,
    finishedAt: new Date().toISOString(),
    quick: options.quick,
    settings,
    machine: { ...machine, loadAverageAtEnd: loadavg().map((l) => Math.round(l * 100) / 100) },
    versions: versions(),
    groups,
    rows,
    ratios: ratios(rows, settings),
  };
}
