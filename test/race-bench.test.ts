import { describe, expect, it } from 'vitest';
import type { BenchSettings } from '../scripts/bench/defaults.js';
import { runBench } from '../scripts/bench/run.js';

// The race guard's bench group on a tiny run, against the real processes it starts: shape and
// sign only (a benchmark is not a timed test), and every request answered 2xx in both settings.
const TINY: BenchSettings = { connections: 4, durationSec: 1, warmupSec: 0, rounds: 1, sessions: 4, instances: 1, scale: [1_000] };

describe('npm run bench -- --only race-guard (tiny)', () => {
  it('measures the lookup and a cart add with the guard off and on, all 2xx, with their ratios', async () => {
    const results = await runBench(TINY, { quick: true, only: ['race-guard'] });
    expect(results.rows.map((r) => r.name)).toEqual(['naive-lookup', 'guard-lookup', 'naive-cart', 'guard-cart']);
    for (const row of results.rows) {
      expect(row.rounds[0]!.requests, row.name).toBeGreaterThan(0);
      expect(row.non2xx, `${row.name}: ${JSON.stringify(row.rounds[0]!.statuses)}`).toBe(0);
      expect(row.errors, row.name).toBe(0);
    }
    const names = results.ratios.map((r) => r.name);
    expect(names).toContain('race guard on vs off: the lookup (GET /profile), Redis');
    expect(names).toContain('race guard on vs off: a cart add (POST /cart), Redis');
    for (const ratio of results.ratios) expect(ratio.value).toBeGreaterThan(0);
  }, 90_000);
});
