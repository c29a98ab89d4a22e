import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, dirname, join, posix } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The parts of a resolved compose service the lab relies on. */
export interface ComposeService {
  image?: string;
  build?: { context: string } | string;
  command?: string[];
  environment?: Record<string, string>;
  expose?: string[];
  ports?: string[];
  healthcheck?: { test: string[]; interval?: string; timeout?: string; retries?: number; start_period?: string };
  depends_on?: Record<string, { condition: string }>;
  restart?: string;
  user?: string;
  network_mode?: string;
  init?: boolean;
  profiles?: string[];
  volumes?: string[];
  networks?: Record<string, unknown> | string[];
}

export interface ComposeFile {
  services: Record<string, ComposeService>;
  networks?: Record<string, { ipam?: { config?: { subnet?: string }[] } } | null>;
  volumes?: Record<string, unknown>;
}

/**
 * `docker-compose config` with only the variables given (never the caller's
 * environment, never a developer's .env): the file exactly as compose resolves it.
 */
export async function composeConfig(root: string, variables: Record<string, string>, envFile?: string): Promise<string> {
  const scratch = mkdtempSync(join(tmpdir(), 'coatcheck-compose-'));
  const file = envFile ?? join(scratch, 'empty.env');
  if (!envFile) writeFileSync(file, '');
  try {
    const { stdout } = await run('docker-compose', ['--env-file', file, '-f', join(root, 'docker-compose.yml'), 'config'], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...variables },
    });
    return stdout;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
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

export interface LocalImage {
  /** The final stage's WORKDIR, as a directory on this machine. */
  dir: string;
  /** Every stage's directory lives under this one: remove it when done. */
  scratch: string;
  cmd: string[];
  env: Record<string, string>;
  user: string | undefined;
  expose: number[];
}

/**
 * Plays the Dockerfile's stages on this machine, one directory per stage standing
 * in for its WORKDIR: COPY from the build context (checked against .dockerignore)
 * or from an earlier stage, RUN npm run build for real. `npm ci` is the one step
 * played by a link to the project's node_modules (no registry here); which
 * packages the compiled entry points need is checked separately.
 */
export async function buildLikeDockerfile(root: string): Promise<LocalImage> {
  const { stages } = parseDockerfile(readFileSync(join(root, 'Dockerfile'), 'utf8'));
  const ignore = readFileSync(join(root, '.dockerignore'), 'utf8');
  const scratch = mkdtempSync(join(tmpdir(), 'coatcheck-image-'));
  const dirs = new Map<string, { dir: string; workdir: string }>();
  let image: LocalImage | undefined;

  try {
    for (const stage of stages) {
      const dir = join(scratch, stage.name);
      mkdirSync(dir, { recursive: true });
      let workdir = '/';
      const env: Record<string, string> = {};
      const result: LocalImage = { dir, scratch, cmd: [], env, user: undefined, expose: [] };
      const local = (containerPath: string) => {
        const absolute = posix.resolve(workdir, containerPath);
        if (absolute !== workdir && !absolute.startsWith(`${workdir}/`)) throw new Error(`Dockerfile: ${containerPath} is outside WORKDIR ${workdir}`);
        return join(dir, posix.relative(workdir, absolute));
      };
      for (const { op, args } of stage.instructions) {
        if (op === 'WORKDIR') workdir = posix.resolve(workdir, args);
        else if (op === 'ENV') {
          for (const pair of args.split(/\s+/)) {
            const [key = '', value = ''] = pair.split('=');
            env[key] = value;
          }
        } else if (op === 'USER') result.user = args;
        else if (op === 'EXPOSE') result.expose.push(...args.split(/\s+/).map(Number));
        else if (op === 'CMD') result.cmd = JSON.parse(args) as string[];
        else if (op === 'COPY') copy(args, local, dirs, root, ignore);
        else if (op === 'RUN') await runStep(args, dir, root);
        else throw new Error(`Dockerfile: the local build does not know ${op} (${args}); teach test/helpers/compose.ts`);
      }
      dirs.set(stage.name, { dir, workdir });
      image = result;
    }
  } catch (err) {
    rmSync(scratch, { recursive: true, force: true });
    throw err;
  }
  if (!image) throw new Error('Dockerfile has no stage');
  return image;
}

function copy(args: string, local: (p: string) => string, stages: Map<string, { dir: string; workdir: string }>, root: string, ignore: string): void {
  const words = args.split(/\s+/);
  const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
  const paths = words.filter((w) => !w.startsWith('--'));
  const dest = paths.pop()!;
  for (const source of paths) {
    let real: string;
    if (from) {
      const stage = stages.get(from);
      if (!stage) throw new Error(`Dockerfile: COPY --from=${from}: no such earlier stage`);
      real = join(stage.dir, posix.relative(stage.workdir, source));
    } else {
      if (!dockerignoreAllows(ignore, source)) throw new Error(`Dockerfile copies ${source}, which .dockerignore leaves out of the build context`);
      real = join(root, source);
    }
    if (!existsSync(real)) throw new Error(`Dockerfile: COPY ${source}: not found (${real})`);
    const target = dest.endsWith('/') || paths.length > 1 ? join(local(dest), basename(source)) : local(dest);
    mkdirSync(dirname(target), { recursive: true });
    // node_modules stands in as a link (see buildLikeDockerfile); copy the link itself.
    if (lstatSync(real).isSymbolicLink()) symlinkSync(realpathSync(real), target);
    else cpSync(real, target, { recursive: true });
  }
}

async function runStep(command: string, dir: string, root: string): Promise<void> {
  for (const part of command.split('&&').map((p) => p.trim())) {
    if (/^npm ci\b/.test(part)) symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
    else if (part === 'npm cache clean --force') continue;
    else if (part === 'npm run build') {
      try {
        await run('npm', ['run', 'build'], { cwd: dir, env: { ...process.env, npm_config_update_notifier: 'false' } });
      } catch (err) {
        const { stdout, stderr } = err as { stdout?: string; stderr?: string };
        throw new Error(`npm run build failed as the Dockerfile runs it:\n${stdout ?? ''}${stderr ?? ''}`, { cause: err });
      }
    } else throw new Error(`Dockerfile: the local build does not know RUN ${part}; teach test/helpers/compose.ts`);
  }
}

/** Packages (not relative files, not Node built-ins) that an entry point loads, following its relative imports. */
export function packagesImportedBy(entry: string): Set<string> {
  const seen = new Set<string>();
  const packages = new Set<string>();
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const source = readFileSync(file, 'utf8');
    // Statements only (a line that starts with import/export, or import(...)): a comment that
    // says `from "somewhere"` is not an import.
    const statements = /^\s*(?:import|export)\s[^;]*?\bfrom\s*['"]([^'"]+)['"]|^\s*import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/gm;
    for (const match of source.matchAll(statements)) {
      const specifier = (match[1] ?? match[2] ?? match[3])!;
      if (specifier.startsWith('.')) queue.push(join(dirname(file), specifier));
      else if (!specifier.startsWith('node:') && !builtinModules.includes(specifier)) {
        const parts = specifier.split('/');
        packages.add(specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!);
      }
    }
  }
  return packages;
}

/** Container ports a service listens on: `expose` and the container side of `ports`. */
export function containerPorts(service: ComposeService): number[] {
  const published = (service.ports ?? []).map((p) => Number(p.replace(/\/\w+$/, '').split(':').at(-1)));
  return [...(service.expose ?? []).map(Number), ...published];
}

/** Where each (service, container port) lives on this machine: a free loopback port. */
export class PortMap {
  private readonly ports = new Map<string, number>();

  set(service: string, containerPort: number, localPort: number): void {
    this.ports.set(`${service}:${containerPort}`, localPort);
  }

  get(service: string, containerPort: number): number {
    const port = this.ports.get(`${service}:${containerPort}`);
    if (port === undefined) throw new Error(`${service}:${containerPort} is used, but ${service} does not expose or publish port ${containerPort}`);
    return port;
  }

  /** "http://app-1:3000" -> "http://127.0.0.1:<local>" for every compose service name. */
  hosts(value: string, services: string[]): string {
    return value.replace(/\b([a-z0-9][a-z0-9_-]*):(\d+)\b/g, (whole, host: string, port: string) =>
      services.includes(host) ? `127.0.0.1:${this.get(host, Number(port))}` : whole,
    );
  }
}

/**
 * Where a service's named volumes live on this machine: container path -> a
 * directory under `volumesDir` named after the volume, shared by every service
 * that mounts it (as Docker shares a named volume).
 */
export function volumeMounts(service: ComposeService, file: ComposeFile, volumesDir: string): Map<string, string> {
  const mounts = new Map<string, string>();
  for (const entry of service.volumes ?? []) {
    const [volume = '', containerPath = ''] = entry.split(':');
    if (!(volume in (file.volumes ?? {}))) continue;
    const dir = join(volumesDir, volume);
    mkdirSync(dir, { recursive: true });
    mounts.set(containerPath, dir);
  }
  return mounts;
}

/**
 * A service's environment as it would be on this machine instead of in its
 * container: service names become 127.0.0.1 with their mapped ports, its own
 * listening ports become the mapped ones, 0.0.0.0 becomes loopback, the
 * compose network's subnet (trusted proxies) becomes loopback, and paths inside
 * a mounted volume become paths in that volume's local directory.
 */
export function localEnvironment(
  name: string,
  service: ComposeService,
  ports: PortMap,
  services: string[],
  subnet: string,
  mounts: Map<string, string> = new Map(),
): Record<string, string> {
  const own = containerPorts(service);
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(service.environment ?? {})) {
    const mount = [...mounts.keys()].find((path) => value === path || value.startsWith(`${path}/`));
    if (mount) env[key] = mounts.get(mount)! + value.slice(mount.length);
    else if (value === '0.0.0.0') env[key] = '127.0.0.1';
    else if (value === subnet) env[key] = '127.0.0.1';
    else if (/PORT$/.test(key) && own.includes(Number(value))) env[key] = String(ports.get(name, Number(value)));
    else env[key] = ports.hosts(value, services);
  }
  return env;
}

export interface LocalProcess {
  name: string;
  child: ChildProcess;
  output: string[];
}

/** Starts a command as the container would (node is this machine's node) and keeps its output for failures. */
export function startLocal(name: string, command: string[], cwd: string, env: Record<string, string>): LocalProcess {
  const [program = '', ...args] = command;
  const child = spawn(program === 'node' ? process.execPath : program, args, {
    cwd,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      output.push(...chunk.split('\n').filter(Boolean));
      if (output.length > 200) output.splice(0, output.length - 200);
    });
  }
  return { name, child, output };
}

/** Waits for a one-shot service to exit, as Docker does before service_completed_successfully lets others start. */
export async function waitCompleted(proc: LocalProcess, timeoutMs = 20_000): Promise<void> {
  const { child } = proc;
  if (child.exitCode === null && child.signalCode === null) {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${proc.name} did not finish within ${timeoutMs} ms:\n${proc.output.join('\n')}`)), timeoutMs);
      // 'close', not 'exit': by then its output has been read too.
      child.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
  if (child.exitCode !== 0) throw new Error(`${proc.name} exited with ${child.signalCode ?? child.exitCode}, not 0:\n${proc.output.join('\n')}`);
}

/**
 * Runs the service's own healthcheck (its 127.0.0.1:<container port> rewritten to
 * the mapped port) until it passes, as Docker does before depends_on lets others start.
 */
export async function waitHealthy(proc: LocalProcess, service: ComposeService, ports: PortMap, cwd: string, env: Record<string, string>, timeoutMs = 20_000): Promise<void> {
  const test = service.healthcheck?.test;
  if (!test || test[0] !== 'CMD') throw new Error(`${proc.name}: expected a healthcheck of the form ["CMD", ...]`);
  const command = test.slice(1).map((arg) => arg.replace(/\b(?:127\.0\.0\.1|localhost):(\d+)\b/g, (_, port: string) => `127.0.0.1:${ports.get(proc.name, Number(port))}`));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) {
      throw new Error(`${proc.name} exited (${proc.child.signalCode ?? proc.child.exitCode}) before it was healthy:\n${proc.output.join('\n')}`);
    }
    const [program = '', ...args] = command;
    const passed = await new Promise<boolean>((resolve) => {
      const check = spawn(program === 'node' ? process.execPath : program, args, { cwd, env: { PATH: process.env.PATH ?? '', ...env }, stdio: 'ignore' });
      check.once('exit', (code) => resolve(code === 0));
      check.once('error', () => resolve(false));
    });
    if (passed) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${proc.name}: healthcheck did not pass within ${timeoutMs} ms:\n${proc.output.join('\n')}`);
}
