import type { BenchResults } from './run.js';

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

/**
 * A bar per row, one scale for all: successful lookups/s in blue, non-2xx answers
 * (memory mode's 401s) in red after them, a whisker from the slowest to the fastest round.
 */
export function chartSvg(results: BenchResults): string {
  const width = 960;
  const labelWidth = 210;
  const barArea = 520;
  const rowHeight = 22;
  const measured = results.rows.filter((r) => r.median);
  const max = Math.max(1, ...measured.flatMap((r) => r.rounds.map((x) => x.rps)));
  const scale = (v: number) => (v / max) * barArea;
  const parts: string[] = [];
  let y = 56;
  for (const group of results.groups) {
    parts.push(`<text x="10" y="${y}" font-weight="bold">${escape(group.title)}</text>`);
    y += 10;
    for (const row of results.rows.filter((r) => r.group === group.name)) {
      const top = y + 4;
      parts.push(`<text x="${labelWidth - 8}" y="${top + 13}" text-anchor="end">${escape(row.name)}</text>`);
      if (!row.median) {
        parts.push(`<text x="${labelWidth}" y="${top + 13}" fill="#777">${escape(row.skipped ?? 'not measured')}</text>`);
      } else {
        const ok = scale(row.median.okRps);
        const all = scale(row.median.rps);
        const rps = row.rounds.map((r) => r.rps);
        const lo = labelWidth + scale(Math.min(...rps));
        const hi = labelWidth + scale(Math.max(...rps));
        parts.push(`<rect x="${labelWidth}" y="${top}" width="${ok.toFixed(1)}" height="16" fill="#3b6fb6"/>`);
        if (all > ok) parts.push(`<rect x="${(labelWidth + ok).toFixed(1)}" y="${top}" width="${(all - ok).toFixed(1)}" height="16" fill="#d9534f"/>`);
        parts.push(`<line x1="${lo.toFixed(1)}" x2="${hi.toFixed(1)}" y1="${top + 8}" y2="${top + 8}" stroke="#222" stroke-width="1.5"/>`);
        const failed = row.median.rps - row.median.okRps;
        // The cookie each request carries: the wristband, or the whole sealed card in stateless rows.
        const cookie = row.cookieBytes === undefined ? '' : ` · cookie ${fmt(row.cookieBytes)} B`;
        const label = `${fmt(row.median.okRps)}/s ok${failed >= 1 ? `, ${fmt(failed)}/s non-2xx` : ''} · p99 ${row.median.p99Ms} ms${cookie}`;
        parts.push(`<text x="${(labelWidth + Math.max(all, hi - labelWidth) + 6).toFixed(1)}" y="${top + 13}">${escape(label)}</text>`);
      }
      y += rowHeight;
    }
    y += 14;
  }
  const m = results.machine;
  const title = `coatcheck: GET /profile with a session cookie, successful lookups per second (median of ${results.settings.rounds} rounds)`;
  const sub = `${m.cores} cores, ${m.cpuModel}, node ${results.versions.node}, autocannon ${results.settings.connections} connections; ${results.startedAt.slice(0, 16).replace('T', ' ')} UTC`;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y + 10}" viewBox="0 0 ${width} ${y + 10}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="#fff"/>
<text x="10" y="20" font-size="14" font-weight="bold">${escape(title)}</text>
<text x="10" y="38" fill="#555">${escape(sub)}</text>
${parts.join('\n')}
</svg>
`;
}
