import { round } from './cpu.js';

/** The stand-in apps of scripts/bench/anatomy-app.ts, from the least to the most. */
export const ANATOMY_LAYERS = ['bare', 'cookie', 'session'] as const;
export type AnatomyLayer = (typeof ANATOMY_LAYERS)[number];

/**
 * What one lookup costs, layer by layer: each layer is the CPU µs per request one row adds to
 * the row before it, read from the process that does the added work.
 */
export const LAYERS = [
  { key: 'framework', label: 'HTTP + Fastify + JSON', row: 'anatomy-bare', color: '#7f8c8d' },
  { key: 'cookie', label: 'cookie parse + unsign', row: 'anatomy-cookie', color: '#e0a030' },
  { key: 'session', label: '@fastify/session (Map store)', row: 'anatomy-session', color: '#c0392b' },
  { key: 'lab', label: 'lab hooks, routes, memory store', row: 'anatomy-memory', color: '#8e44ad' },
  { key: 'network', label: 'Redis client + round trip (in the instance)', row: 'anatomy-redis', color: '#2980b9' },
  { key: 'store', label: 'redis-server', row: 'anatomy-redis', color: '#16a085' },
  { key: 'proxy', label: 'balancer (proxy)', row: 'anatomy-balancer', color: '#2c3e50' },
] as const;
export type LayerKey = (typeof LAYERS)[number]['key'];

/** The process names the anatomy rows give what they start, so layers can be read back. */
export const PROCESS = { bare: 'bare', cookie: 'cookie', session: 'session', memory: 'lab-memory', redis: 'lab-redis', server: 'redis', proxy: 'balancer' };

interface RowCpu {
  name: string;
  median?: { okRps: number; cpu: Record<string, { usPerRequest: number }> };
}

export interface Anatomy {
  /** CPU µs per request each layer adds; null when its rows were not both measured. */
  layers: { key: LayerKey; label: string; usPerRequest: number | null }[];
  /** Successful lookups per second one fully busy instance core would serve, from its µs per request. */
  lookupsPerInstanceCore: { memory: number | null; redis: number | null };
}

export function anatomy(rows: RowCpu[]): Anatomy {
  const us = (row: string, process: string): number | null => rows.find((r) => r.name === row)?.median?.cpu[process]?.usPerRequest ?? null;
  const diff = (a: number | null, b: number | null) => (a === null || b === null ? null : round(a - b, 1));
  const bare = us('anatomy-bare', PROCESS.bare);
  const cookie = us('anatomy-cookie', PROCESS.cookie);
  const session = us('anatomy-session', PROCESS.session);
  const memory = us('anatomy-memory', PROCESS.memory);
  const redis = us('anatomy-redis', PROCESS.redis);
  const values: Record<LayerKey, number | null> = {
    framework: bare,
    cookie: diff(cookie, bare),
    session: diff(session, cookie),
    lab: diff(memory, session),
    network: diff(redis, memory),
    store: us('anatomy-redis', PROCESS.server),
    proxy: us('anatomy-balancer', PROCESS.proxy),
  };
  const perCore = (v: number | null) => (v && v > 0 ? Math.round(1e6 / v) : null);
  return {
    layers: LAYERS.map((l) => ({ key: l.key, label: l.label, usPerRequest: values[l.key] })),
    lookupsPerInstanceCore: { memory: perCore(memory), redis: perCore(redis) },
  };
}

/** The layers as text: the µs each adds, and the running total a request has cost by then. */
export function anatomyText(a: Anatomy): string {
  let total = 0;
  const lines = a.layers.map((l) => {
    if (l.usPerRequest === null) return `  ${l.label.padEnd(44)}      -`;
    total += l.usPerRequest;
    return `  ${l.label.padEnd(44)} ${l.usPerRequest.toFixed(1).padStart(6)}   (total ${total.toFixed(1)})`;
  });
  const core = a.lookupsPerInstanceCore;
  const fmt = (n: number | null) => (n === null ? 'n/a' : n.toLocaleString('en-US'));
  return [
    'Anatomy of one lookup: CPU µs per request each layer adds (same run; a negative figure is noise between two rows)',
    ...lines,
    `  lookups/s per instance core: memory store ${fmt(core.memory)}, Redis store ${fmt(core.redis)} (1e6 / the instance's µs per request)`,
  ].join('\n');
}

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * A stacked bar per anatomy row, in the style of chart.ts: each row adds its layer to the
 * layers of the rows above it, so the last bar is a whole lookup through the balancer.
 */
export function anatomySvg(a: Anatomy, subtitle: string): string {
  const width = 960;
  const labelWidth = 150;
  const barArea = 560;
  const rowHeight = 24;
  const rows = [...new Set(LAYERS.map((l) => l.row))];
  const measured = a.layers.map((l) => Math.max(0, l.usPerRequest ?? 0));
  const max = Math.max(1, measured.reduce((s, v) => s + v, 0));
  const scale = (v: number) => (v / max) * barArea;
  const parts: string[] = [];
  let y = 56;
  rows.forEach((row) => {
    let upTo = 0;
    LAYERS.forEach((l, i) => l.row === row && (upTo = i));
    parts.push(`<text x="${labelWidth - 8}" y="${y + 15}" text-anchor="end">${escape(row)}</text>`);
    let x = labelWidth;
    for (let i = 0; i <= upTo; i++) {
      const w = scale(measured[i]!);
      parts.push(`<rect x="${x.toFixed(1)}" y="${y + 2}" width="${w.toFixed(1)}" height="18" fill="${LAYERS[i]!.color}"/>`);
      x += w;
    }
    const total = measured.slice(0, upTo + 1).reduce((s, v) => s + v, 0);
    parts.push(`<text x="${(x + 6).toFixed(1)}" y="${y + 15}">${total.toFixed(0)} µs</text>`);
    y += rowHeight;
  });
  y += 12;
  a.layers.forEach((l, i) => {
    const us = l.usPerRequest === null ? 'not measured' : `${l.usPerRequest.toFixed(1)} µs`;
    parts.push(`<rect x="${labelWidth}" y="${y}" width="12" height="12" fill="${LAYERS[i]!.color}"/>`);
    parts.push(`<text x="${labelWidth + 18}" y="${y + 10}">${escape(`${l.label}: ${us}`)}</text>`);
    y += 18;
  });
  const title = 'coatcheck: CPU µs per authenticated lookup (GET /profile), layer by layer, one run';
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y + 10}" viewBox="0 0 ${width} ${y + 10}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="#fff"/>
<text x="10" y="20" font-size="14" font-weight="bold">${escape(title)}</text>
<text x="10" y="38" fill="#555">${escape(subtitle)}</text>
${parts.join('\n')}
</svg>
`;
}
