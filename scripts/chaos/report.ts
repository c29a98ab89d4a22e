import { table } from '../simulate/report.js';
import { faultName } from './invariants.js';
import type { ChaosReport } from './runner.js';

const s = (ms: number) => (ms / 1000).toFixed(1);

/** The human report: faults, requests by status, the invariants with their evidence. */
export function renderChaos(report: ChaosReport): string {
  const { record, invariants, statuses } = report;
  const failed = invariants.filter((i) => !i.passed).length;
  const lines = [
    `coatcheck chaos: seed ${record.seed}, ${s(record.durationMs)} s, ${record.faults.length} of ${record.planned.length} planned faults applied${report.interrupted ? ' (interrupted)' : ''}`,
    '',
    table([
      ['fault', 'start s', 'over s', 'recovered'],
      ...record.faults.map((f) => [faultName(f), s(f.start), s(f.end), f.interrupted ? 'interrupted' : f.recovered ? 'yes' : `NO${f.note ? `: ${f.note}` : ''}`]),
    ]),
    '',
    `requests: ${record.requests.length}; ${Object.entries(statuses).sort(([a], [b]) => a.localeCompare(b)).map(([status, n]) => `${status}: ${n}`).join(', ')}`,
    `sessions lost: ${record.requests.filter((r) => r.lostSession).length}; logins: ${record.requests.filter((r) => r.kind === 'login' && r.status === 200).length}`,
    '',
    ...invariants.flatMap((i) => [`${i.passed ? 'PASS' : 'FAIL'}  ${i.name}: ${i.promise}`, ...i.evidence.map((e) => `      ${e}`)]),
    '',
    failed === 0 ? `0 violated invariants (of ${invariants.length})` : `${failed} violated invariant(s) of ${invariants.length}`,
  ];
  return lines.join('\n');
}

/** The --json document: the report, with the raw requests summarised rather than listed. */
export function chaosJson(report: ChaosReport): object {
  const { record, invariants, statuses, interrupted } = report;
  return {
    tool: 'coatcheck chaos',
    seed: record.seed,
    durationMs: record.durationMs,
    interrupted,
    violated: invariants.filter((i) => !i.passed).length,
    invariants,
    planned: record.planned,
    faults: record.faults,
    requests: { total: record.requests.length, byStatus: statuses, sessionsLost: record.requests.filter((r) => r.lostSession).length },
    adminErrors: record.adminErrors,
    leftovers: record.leftovers,
  };
}
