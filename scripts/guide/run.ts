import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { BALANCER_KINDS, type BalancerKind } from '../../proxy/config.js';
import { MODE_NAMES, REVOCATION_KINDS, type ModeName, type RevocationKind } from '../../services/vocabulary.js';
import { SHELL_LANGS, directive, parseBlocks, parseSteps, type Block } from './blocks.js';
import { DeskNames, compare } from './compare.js';
import { Shell } from './shell.js';

/** What a `<!-- guide: lab ... -->` directive asks for: the `npm start` options the guide names. */
export interface LabRequest {
  mode: ModeName;
  instances: number;
  /** The balancer's HTTPS listener too (HTTPS_PORT). */
  https: boolean;
  /** Stateless mode's revocation list (`--revocation redis`). */
  revocation?: RevocationKind;
  /** HAProxy on the public port (`--balancer haproxy`). */
  balancer?: BalancerKind;
}

export interface GuideLab {
  url: string;
  adminUrl: string;
  httpsUrl: string | undefined;
  /** The lab's Redis, where the guide says redis://127.0.0.1:6379. */
  redisUrl?: string | undefined;
  close(): Promise<void>;
}

export interface GuideOptions {
  file: string;
  /** The repository: commands run in a scratch copy of it (links), so jar.txt lands there. */
  root: string;
  startLab(request: LabRequest): Promise<GuideLab>;
  onStep?: (line: number, command: string, ok: boolean) => void;
  stepTimeoutMs?: number;
}

export interface GuideReport {
  ran: number;
  skipped: { line: number; reason: string }[];
  failures: { line: number; command: string; message: string }[];
}

export function labRequest(words: string): LabRequest {
  const { values } = parseArgs({
    args: words.split(/\s+/).filter(Boolean),
    options: { mode: { type: 'string', default: 'memory' }, instances: { type: 'string', default: '3' }, https: { type: 'boolean', default: false }, revocation: { type: 'string' }, balancer: { type: 'string' } },
  });
  const mode = values.mode as ModeName;
  if (!MODE_NAMES.includes(mode)) throw new Error(`guide: lab --mode must be one of ${MODE_NAMES.join(', ')}`);
  const instances = Number(values.instances);
  if (!Number.isInteger(instances) || instances < 1) throw new Error(`guide: lab --instances must be a whole number, got ${values.instances}`);
  const revocation = values.revocation as RevocationKind | undefined;
  if (revocation !== undefined && !REVOCATION_KINDS.includes(revocation)) throw new Error(`guide: lab --revocation must be one of ${REVOCATION_KINDS.join(', ')}`);
  const balancer = values.balancer as BalancerKind | undefined;
  if (balancer !== undefined && !BALANCER_KINDS.includes(balancer)) throw new Error(`guide: lab --balancer must be one of ${BALANCER_KINDS.join(', ')}`);
  return { mode, instances, https: values.https, ...(revocation && { revocation }), ...(balancer && { balancer }) };
}

/** The guide's usual addresses, moved to the ports this lab really has. */
export function onLabPorts(command: string, lab: Pick<GuideLab, 'url' | 'adminUrl' | 'httpsUrl' | 'redisUrl'>): string {
  const port = (url: string | undefined) => (url ? new URL(url).port : '0');
  return command
    .replace(/\bredis:\/\/127\.0\.0\.1:6379\b/g, lab.redisUrl ?? 'redis://127.0.0.1:6379')
    .replace(/\b(localhost|127\.0\.0\.1):8080\b/g, `$1:${port(lab.url)}`)
    .replace(/\b(localhost|127\.0\.0\.1):8081\b/g, `$1:${port(lab.adminUrl)}`)
    .replace(/\b(localhost|127\.0\.0\.1):8443\b/g, `$1:${port(lab.httpsUrl)}`);
}

/** npm run's own two "> package@version script" lines: the reader sees them, the guide leaves them out. */
export function withoutNpmBanner(lines: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (/^> \S+@\S+ \S+/.test(lines[i]!) && lines[i + 1]?.startsWith('> ')) {
      i += lines[i + 2] === '' ? 2 : 1;
      if (out.at(-1) === '') out.pop();
      continue;
    }
    out.push(lines[i]!);
  }
  return out;
}

/** Runs every console block of the guide, in order, against the labs its directives ask for. */
export async function runGuide(options: GuideOptions): Promise<GuideReport> {
  const blocks = parseBlocks(readFileSync(options.file, 'utf8'));
  const report: GuideReport = { ran: 0, skipped: [], failures: [] };
  const scratch = scratchCopy(options.root);
  const shell = new Shell(scratch, { ...process.env, npm_config_update_notifier: 'false', NO_COLOR: '1' });
  let lab: GuideLab | null = null;
  try {
    for (const block of blocks) {
      if (!SHELL_LANGS.has(block.lang)) continue;
      const skip = directive(block, 'skip');
      if (skip !== null) {
        report.skipped.push({ line: block.line, reason: skip || 'no reason given' });
        continue;
      }
      if (block.lang !== 'console') {
        report.failures.push({ line: block.line, command: block.body[0] ?? '', message: `a ${block.lang} block is neither run nor marked <!-- guide: skip <reason> -->` });
        continue;
      }
      // A fresh `npm start` unless the guide asks for another lab (README: the default one).
      const wanted = directive(block, 'lab') ?? (lab ? null : '');
      if (wanted !== null) {
        await lab?.close();
        lab = null;
        lab = await options.startLab(labRequest(wanted));
        await shell.run(`export COATCHECK_URL=${lab.url}`, 5000);
      }
      await runBlock(block, lab!, shell, options, report);
    }
  } finally {
    shell.close();
    await lab?.close();
    rmSync(scratch, { recursive: true, force: true });
  }
  return report;
}

async function runBlock(block: Block, lab: GuideLab, shell: Shell, options: GuideOptions, report: GuideReport): Promise<void> {
  const loose = {
    measured: directive(block, 'measured') !== null,
    anyDesk: directive(block, 'any desk') !== null,
    ...(directive(block, 'desks renamed') !== null && { desks: { guide: new DeskNames(), lab: new DeskNames() } }),
  };
  for (const step of parseSteps(block)) {
    report.ran++;
    let message: string | null;
    try {
      const { output } = await shell.run(onLabPorts(step.command, lab), options.stepTimeoutMs ?? 60_000);
      message = compare(step.expected, withoutNpmBanner(output.split('\n')), loose);
    } catch (err) {
      message = (err as Error).message;
    }
    options.onStep?.(block.line, step.command, message === null);
    if (message !== null) report.failures.push({ line: block.line, command: step.command, message });
  }
}

/** The repository's top level as links in a temporary directory: the guide's files appear there, not in the tree. */
function scratchCopy(root: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'coatcheck-guide-'));
  for (const entry of readdirSync(root)) {
    if (entry === '.git') continue;
    symlinkSync(resolve(root, entry), join(dir, entry));
  }
  return dir;
}
