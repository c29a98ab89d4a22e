import { spawnSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { chartSvg } from '../scripts/bench/chart.js';
import type { BenchSettings } from '../scripts/bench/defaults.js';
import { findNginx, NGINX_MISSING } from '../scripts/bench/nginx.js';
import { runBench, type BenchResults } from '../scripts/bench/run.js';
import { entry } from '../scripts/lib/processes.js';

// The bench's own core on a tiny matrix, against the real processes it starts. Figures
// are checked for shape and sign only: a benchmark is not a timed test.
const TINY: BenchSettings = { connections: 4, durationSec: 1, warmupSec: 0, rounds: 1, sessions: 4, instances: 2, scale: [1_000, 2_000] };
const ROWS = ['instance-redis', 'memory', 'trivial-nginx', 'trivial-haproxy', 'memory-1k', 'redis-2k'];

describe('npm run bench (tiny matrix)', () => {
  let results: BenchResults;
  beforeAll(async () => {
    results = await runBench(TINY, { quick: true, only: ROWS });
  }, 90_000);

  it('measures every requested row with positive figures, round by round', () => {
    expect(results.rows.map((r) => r.name).sort()).toEqual([...ROWS].sort());
    for (const row of results.rows.filter((r) => !r.skipped)) {
      expect(row.rounds).toHaveLength(1);
      const [round] = row.rounds;
      expect(round!.requests).toBeGreaterThan(0);
      expect(row.median!.rps).toBeGreaterThan(0);
      expect(row.median!.p99Ms).toBeGreaterThanOrEqual(row.median!.p50Ms);
      expect(row.errors, `${row.name}: ${JSON.stringify(row.rounds.map((r) => r.errorCodes))}`).toBe(0);
      // CPU is read per process; the load generator (this process) always has some.
      expect(round!.cpu.autocannon!.seconds).toBeGreaterThan(0);
      expect(row.busiest?.process).toBeTypeOf('string');
    }
  });

  it('counts the 401s of memory mode instead of calling them throughput', () => {
    const memory = results.rows.find((r) => r.name === 'memory')!;
    expect(memory.rounds[0]!.statuses['401']).toBeGreaterThan(0);
    expect(memory.rounds[0]!.statuses['200']).toBeGreaterThan(0);
    expect(memory.median!.okRps).toBeLessThan(memory.median!.rps);
    const redis = results.rows.find((r) => r.name === 'instance-redis')!;
    expect(redis.non2xx).toBe(0);
    expect(redis.median!.okRps).toBe(redis.median!.rps);
  });

  it('looks up seeded sessions with minted cookies, and reports memory per session', () => {
    for (const name of ['memory-1k', 'redis-2k']) {
      const row = results.rows.find((r) => r.name === name)!;
      expect(row.non2xx, `${name}: every minted cookie must find its seeded session`).toBe(0);
    }
    const scale = results.groups.find((g) => g.name === 'scale')!;
    const memory = scale.extra!.memoryPerSession as Record<string, { sessions: number; bytesPerSession: number }>;
    expect(memory['redis-2k']!.sessions).toBe(2_000);
    expect(memory['redis-2k']!.bytesPerSession).toBeGreaterThan(100);
    expect(memory['memory-1k']!.sessions).toBe(1_000);
  });

  it('runs nginx as the peer when it is installed, and says so when it is not', () => {
    const nginx = results.rows.find((r) => r.name === 'trivial-nginx')!;
    if (findNginx()) expect(nginx.median!.rps).toBeGreaterThan(0);
    else expect(nginx.skipped).toBe(NGINX_MISSING);
  });

  it('records the machine and versions, and draws every row in the chart', () => {
    expect(results.machine.cores).toBeGreaterThan(0);
    expect(results.versions.node).toBe(process.version);
    expect((results.versions as Record<string, string | null>).autocannon).toMatch(/^\d+\./);
    const svg = chartSvg(results);
    expect(svg.startsWith('<svg')).toBe(true);
    for (const name of ROWS) expect(svg).toContain(`>${name}<`);
  });
});

describe('npm run bench (command line)', () => {
  it('refuses an unknown row with the list of known ones', () => {
    const { file, execArgv } = entry('scripts/bench.ts');
    const run = spawnSync(process.execPath, [...execArgv, file, '--only', 'nosuchrow'], { encoding: 'utf8', timeout: 20_000 });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('unknown row or group: nosuchrow');
    expect(run.stderr).toContain('instance-redis');
  });
});
