import type { LoginCost } from './write-guard.js';
import type { Ratio } from './ratios.js';
import type { BenchResults, RowResult } from './run.js';

function pad(cells: string[][]): string {
  const widths = cells[0]!.map((_, c) => Math.max(...cells.map((row) => row[c]!.length)));
  return cells
    .map((row) => row.map((cell, c) => (c === 0 || c === row.length - 1 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ').trimEnd())
    .join('\n');
}

const short = (name: string) => (name === 'autocannon' ? 'load' : name);

/** "balancer 142 · app-1 61 · redis 9 · load 70": CPU µs per request, busiest first. */
function cpuCell(row: RowResult): string {
  const cpu = row.median?.cpu ?? {};
  return Object.entries(cpu)
    .sort((a, b) => b[1].share - a[1].share)
    .map(([name, use]) => `${short(name)} ${Math.round(use.usPerRequest)}`)
    .join(' · ');
}

function busiestCell(row: RowResult): string {
  if (!row.busiest) return 'n/a';
  const percent = `${Math.round(row.busiest.share * 100)}%`;
  return `${short(row.busiest.process)} ${percent}${row.busiest.bound ? ' (bound)' : ''}`;
}

/** The main table: one line per row, medians over rounds. */
export function table(results: BenchResults): string {
  const out: string[] = [];
  for (const group of results.groups) {
    const rows = results.rows.filter((r) => r.group === group.name);
    const cells = [['row', 'req/s', '2xx/s', 'p50 ms', 'p99 ms', 'non-2xx', 'errors', 'cookie B', 'busiest (of 1 core)', 'CPU µs/request by process']];
    for (const row of rows) {
      if (row.skipped || !row.median) {
        cells.push([row.name, '-', '-', '-', '-', '-', '-', '-', '-', row.skipped ?? 'not measured']);
        continue;
      }
      cells.push([
        row.name,
        Math.round(row.median.rps).toLocaleString('en-US'),
        Math.round(row.median.okRps).toLocaleString('en-US'),
        String(row.median.p50Ms),
        String(row.median.p99Ms),
        row.non2xx.toLocaleString('en-US'),
        String(row.errors),
        row.cookieBytes === undefined ? '-' : String(Math.round(row.cookieBytes)),
        busiestCell(row),
        cpuCell(row),
      ]);
    }
    out.push(`${group.title}\n${pad(cells)}`);
    const memory = group.extra?.memoryPerSession as Record<string, { bytesPerSession: number | null; measuredAs: string }> | undefined;
    if (memory) {
      const lines = Object.entries(memory).map(
        ([row, m]) => `  ${row}: ${m.bytesPerSession === null ? 'n/a' : `${m.bytesPerSession.toLocaleString('en-US')} bytes/session`} (${m.measuredAs})`,
      );
      out.push(`Memory per session:\n${lines.join('\n')}`);
    }
    const login = group.extra?.loginCost as LoginCost | undefined;
    if (login) {
      out.push(`Per login (median of ${login.logins} each, one at a time, alternating): ${login.msPerLogin.none} ms without the guard, ${login.msPerLogin.guard} ms with it: ${login.extraMsPerLogin >= 0 ? '+' : ''}${login.extraMsPerLogin} ms`);
    }
  }
  return out.join('\n\n');
}

export function ratioLines(ratios: Ratio[]): string {
  if (ratios.length === 0) return 'Ratios: none (each needs both of its rows in the run)';
  const lines = ratios.map((r) => {
    const value = r.value === null ? 'n/a' : `${r.value.toFixed(2)}x`;
    const verdict = r.target === undefined ? '' : `  expected >= ${r.target.toFixed(2)}x: ${r.holds ? 'holds' : 'does not hold'}`;
    return `  ${r.name}: ${value} (${r.numerator} / ${r.denominator})${verdict}`;
  });
  return `Ratios (successful lookups/s, medians, same run):\n${lines.join('\n')}`;
}

export function header(results: BenchResults): string {
  const { machine, versions, settings } = results;
  const v = versions as Record<string, string | null>;
  return [
    `coatcheck bench${results.quick ? ' (--quick: figures too short to quote)' : ''}`,
    `machine: ${machine.cores} cores, ${machine.cpuModel}, ${machine.memoryGiB} GiB, ${machine.kernel}, load ${machine.loadAverageAtStart.join(' ')}`,
    `versions: node ${v.node}, fastify ${v.fastify}, @fastify/session ${v['@fastify/session']}, ioredis ${v.ioredis}, http-proxy ${v['http-proxy']}, autocannon ${v.autocannon}, redis ${v['redis-server']}, nginx ${v.nginx ?? 'not installed'}`,
    `load: autocannon, ${settings.connections} keep-alive connections, ${settings.sessions} session cookies rotated per request, ` +
      `${settings.warmupSec}s warm-up + ${settings.durationSec}s x ${settings.rounds} rounds per row, rows alternating; ${settings.instances} instances behind each proxy`,
  ].join('\n');
}
