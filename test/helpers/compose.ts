import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The parts of a resolved compose service the lab relies on. */
export interface ComposeService {
  image?: string;
  build?: { context: string } | string;
  command?: string[];
  environment?: Record<string, string>;
  expose?: string[];
  ports?: (string | { target: number; published: string | number; host_ip?: string })[];
  healthcheck?: { test: string[]; interval?: string; timeout?: string; retries?: number; start_period?: string };
  depends_on?: Record<string, { condition: string }>;
  restart?: string;
  user?: string;
  network_mode?: string;
  init?: boolean;
  profiles?: string[];
  volumes?: (string | { type: string; source: string; target: string; read_only?: boolean })[];
  networks?: Record<string, unknown> | string[];
}

export interface ComposeFile {
  services: Record<string, ComposeService>;
  networks?: Record<string, { ipam?: { config?: { subnet?: string }[] } } | null>;
  volumes?: Record<string, unknown>;
}

/** A compose client: the v2 plugin (`docker compose`) or Debian's docker-compose 1.29. */
export interface ComposeClient {
  name: 'docker compose' | 'docker-compose';
  argv: [string, ...string[]];
}

const CLIENTS: ComposeClient[] = [
  { name: 'docker compose', argv: ['docker', 'compose'] },
  { name: 'docker-compose', argv: ['docker-compose'] },
];

/** Every compose client this machine has, the v2 plugin first (the one the docs assume). */
export async function composeClients(): Promise<ComposeClient[]> {
  const found: ComposeClient[] = [];
  for (const client of CLIENTS) {
    try {
      await run(client.argv[0], [...client.argv.slice(1), 'version'], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
      found.push(client);
    } catch {
      /* not installed */
    }
  }
  return found;
}

/**
 * `config` with only the variables given (never the caller's environment, never a
 * developer's .env): the file exactly as this client resolves it.
 */
export async function composeConfig(
  client: ComposeClient,
  root: string,
  variables: Record<string, string>,
  options: { envFile?: string; profiles?: string[] } = {},
): Promise<string> {
  const scratch = mkdtempSync(join(tmpdir(), 'coatcheck-compose-'));
  const file = options.envFile ?? join(scratch, 'empty.env');
  if (!options.envFile) writeFileSync(file, '');
  const profiles = (options.profiles ?? []).flatMap((p) => ['--profile', p]);
  try {
    const [program, ...rest] = client.argv;
    const { stdout } = await run(program, [...rest, '--env-file', file, '-f', join(root, 'docker-compose.yml'), ...profiles, 'config'], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: scratch, ...variables },
    });
    return stdout;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** "127.0.0.1:8080:8080/tcp" whichever form (short or long) the client printed. */
export function portSpec(port: NonNullable<ComposeService['ports']>[number]): string {
  if (typeof port === 'string') return port.includes('/') ? port : `${port}/tcp`;
  return `${port.host_ip ?? ''}:${port.published}:${port.target}/tcp`.replace(/^:/, '');
}

/** "volume:/path[:ro]" whichever form (short or long) the client printed. */
export function volumeSpec(volume: NonNullable<ComposeService['volumes']>[number]): string {
  if (typeof volume === 'string') return volume;
  return `${volume.source}:${volume.target}${volume.read_only ? ':ro' : ''}`;
}

export interface Instruction {
  op: string;
  args: string;
}

export interface Stage {
  name: string;
  from: string;
  instructions: Instruction[];
}

/** Dockerfile instructions grouped by stage (comments dropped, continuation lines joined). */
export function parseDockerfile(text: string): { args: Record<string, string>; stages: Stage[] } {
  const lines = text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const line of lines) {
    const [op = '', ...rest] = line.split(/\s+/);
    const instruction = { op: op.toUpperCase(), args: rest.join(' ') };
    if (instruction.op === 'FROM') {
      const match = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(instruction.args);
      if (!match) throw new Error(`Dockerfile: cannot read "${line}"`);
      const from = match[1]!.replace(/\$\{(\w+)\}/g, (_, name: string) => args[name] ?? '');
      stages.push({ name: match[2] ?? String(stages.length), from, instructions: [] });
    } else if (stages.length === 0) {
      if (instruction.op !== 'ARG') throw new Error(`Dockerfile: ${op} before the first FROM`);
      const [name = '', value = ''] = instruction.args.split('=');
      args[name] = value;
    } else {
      stages.at(-1)!.instructions.push(instruction);
    }
  }
  return { args, stages };
}

/** .dockerignore in allow-list form: "*" first, then "!path" for each path the build may see. */
export function dockerignoreAllows(text: string, path: string): boolean {
  const rules = text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  if (rules[0] !== '*') throw new Error('.dockerignore is expected to start with "*" (an allow-list)');
  const allowed = rules.slice(1).filter((r) => r.startsWith('!')).map((r) => r.slice(1).replace(/\/$/, ''));
  const clean = posix.normalize(path).replace(/\/$/, '');
  return allowed.some((a) => clean === a || clean.startsWith(`${a}/`));
}
