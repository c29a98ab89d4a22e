import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The parts of a V8 .cpuprofile this reads. */
export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  /** Sampled busy time (idle left out), in ms. */
  busyMs: number;
  /** Self time by package (node_modules/<pkg>, node:<module>, our own directory, or a V8 entry such as the GC). */
  byPackage: { name: string; share: number }[];
  /** Self time by function and the line it starts on. */
  byFunction: { name: string; share: number }[];
}

const ROOT = /^file:\/\/.*?\/(services|proxy|scripts)\//;

function packageOf(url: string, functionName: string): string {
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  const own = ROOT.exec(url);
  if (own) return `${own[1]}/${url.slice(own[0].length).split('/')[0]}`;
  return url === '' ? functionName || '(native)' : url;
}

/** Self time per package and per function: which lines of which library a process spent its CPU in. */
export function summarizeProfile(profile: CpuProfile, top = 30): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const packages = new Map<string, number>();
  const functions = new Map<string, number>();
  let busy = 0;
  for (const [id, us] of self) {
    const frame = byId.get(id)?.callFrame;
    if (!frame || frame.functionName === '(idle)') continue;
    busy += us;
    const url = frame.url.replace(ROOT, '$1/').replace(/^file:\/\/.*?node_modules\//, 'node_modules/');
    const fn = `${frame.functionName || '(anonymous)'} ${url ? `${url}:${frame.lineNumber + 1}` : ''}`.trim();
    functions.set(fn, (functions.get(fn) ?? 0) + us);
    const pkg = packageOf(frame.url, frame.functionName);
    packages.set(pkg, (packages.get(pkg) ?? 0) + us);
  }
  const ranked = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, share: busy > 0 ? us / busy : 0 }));
  return { busyMs: Math.round(busy / 1000), byPackage: ranked(packages), byFunction: ranked(functions) };
}

const percent = (share: number) => `${(share * 100).toFixed(1).padStart(5)}%`;

/** Every .cpuprofile in a directory, summarized as text (profiles/summary.txt). */
export function summarizeProfiles(dir: string): string {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort();
  return files
    .map((file) => {
      const s = summarizeProfile(JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile, 25);
      return [
        `== ${file}: ${s.busyMs} ms busy (start-up and logins included)`,
        'self time by package:',
        ...s.byPackage.slice(0, 15).map((p) => `  ${percent(p.share)} ${p.name}`),
        'self time by function:',
        ...s.byFunction.map((f) => `  ${percent(f.share)} ${f.name}`),
      ].join('\n');
    })
    .join('\n\n');
}
