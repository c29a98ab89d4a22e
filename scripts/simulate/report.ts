import type { PhaseReport, SimulationReport } from './scenarios.js';

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

/** A plain text table: first row is the header, numbers right-aligned. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  const numeric = (text: string) => /^[\d.,%/() -]+$/.test(text) && /\d/.test(text);
  return rows
    .map((row, r) =>
      row
        .map((cell, c) => (r > 0 && numeric(cell) ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function spread(report: SimulationReport): string {
  return Object.entries(report.perInstance)
    .sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true }))
    .map(([id, count]) => `${id} ${count.requests}`)
    .join(', ');
}

function phase(report: SimulationReport, name: PhaseReport['name']): PhaseReport | undefined {
  return report.phases.find((p) => p.name === name);
}

/** The table for runs without an event: one line per mode. */
export function steadyTable(reports: SimulationReport[]): string {
  const rows = [
    ['variant', 'routing', 'store', 'requests', 'logged out', 'measured', 'theory', 'formula', 'users hit', 'sessions lost', 'requests per instance'],
    ...reports.map((r) => [
      r.variant,
      r.routing,
      r.store,
      String(r.requests),
      String(r.loggedOut),
      pct(r.loggedOutRate),
      pct(r.expectedRate),
      r.formula,
      `${r.usersAffected}/${r.logins.ok}`,
      `${r.sessionsLost}/${r.logins.ok}`,
      spread(r),
    ]),
  ];
  return table(rows);
}

/** The table for a scenario: the rate before and after the event, each beside its theory. */
export function scenarioTable(reports: SimulationReport[]): string {
  const rows = [
    ['variant', 'routing', 'store', 'before', 'theory', 'after', 'theory', 'formula (after)', 'users hit', 'theory', 'sessions lost', 'expected', 'requests per instance'],
    ...reports.map((r) => {
      const before = phase(r, 'before');
      const after = phase(r, 'after');
      return [
        r.variant,
        r.routing,
        r.store,
        before ? pct(before.loggedOutRate) : '-',
        before ? pct(before.expectedRate) : '-',
        after ? pct(after.loggedOutRate) : '-',
        after ? pct(after.expectedRate) : '-',
        r.formula,
        `${r.usersAffected}/${r.logins.ok}`,
        String(r.expectedUsersAffected),
        `${r.sessionsLost}/${r.logins.ok}`,
        String(r.expectedSessionsLost),
        spread(r),
      ];
    }),
  ];
  return table(rows);
}

/** replay: how many requests with a cookie copied before logout were still served after it. */
export function replayTable(reports: SimulationReport[]): string {
  const rows = [
    ['variant', 'routing', 'store', 'replays', 'accepted', 'measured', 'theory', 'formula'],
    ...reports.map((r) => {
      const after = phase(r, 'after');
      const accepted = after ? after.requests - after.loggedOut - after.errors : 0;
      return [
        r.variant,
        r.routing,
        r.store,
        String(after?.requests ?? 0),
        String(accepted),
        pct(after?.requests ? accepted / after.requests : 0),
        pct(after ? 1 - after.expectedRate : 0),
        r.formula,
      ];
    }),
  ];
  return `${table(rows)}
accepted: requests made with a copy of a cookie taken before its user logged out, answered as logged in.`;
}

/** redis-down: what the users saw while Redis was away. */
export function outageLines(reports: SimulationReport[]): string[] {
  return reports.flatMap((r) => {
    const outage = phase(r, 'outage');
    if (!outage) return [];
    const statuses = Object.entries(outage.statuses)
      .map(([status, count]) => `${status === '0' ? 'no answer' : status}: ${count}`)
      .join(', ');
    const unavailable = outage.statuses['503'] ?? 0;
    return [
      `during the outage (${r.variant}): ${outage.requests} requests, ${statuses}; ${pct(outage.requests ? unavailable / outage.requests : 0)} were 503 (theory 100%)`,
      `  latency p50 ${outage.latencyMs.p50} ms, p99 ${outage.latencyMs.p99} ms, max ${outage.latencyMs.max} ms; 500s: ${outage.statuses['500'] ?? 0}; session cookies cleared: ${outage.cookieCleared}; logged out: ${outage.loggedOut}`,
    ];
  });
}

/** Everything the human reader gets on stdout. */
export function render(title: string, reports: SimulationReport[]): string {
  const scenario = reports[0]?.scenario ?? 'steady';
  const event = reports.find((r) => r.event)?.event;
  const failures = reports.filter((r) => r.logins.failed > 0 || (r.errors > 0 && scenario !== 'redis-down'));
  const lines = [
    title,
    ...(event ? [`event, halfway through: ${event}`] : []),
    '',
    scenario === 'steady' ? steadyTable(reports) : scenario === 'replay' ? replayTable(reports) : scenarioTable(reports),
    '',
    ...outageLines(reports),
    ...failures.map((r) => `note (${r.variant}): ${r.logins.failed} failed logins, ${r.errors} requests with no answer or a 5xx`),
    ...(scenario === 'replay'
      ? []
      : [
          'measured: share of follow-up requests answered 401 "not logged in"; theory: what the formula predicts for this run.',
          'users hit: users who got at least one such 401; sessions lost: sessions their home instance (or Redis) no longer had at the end.',
        ]),
    ...(scenario === 'steady' || scenario === 'replay'
      ? []
      : ['theory uses where the logins really landed (kill-instance) and the users\' real addresses (hash routing); the formula is the average case.']),
  ];
  return lines.join('\n').replace(/\n{3,}/g, '\n\n');
}
