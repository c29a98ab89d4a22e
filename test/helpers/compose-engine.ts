import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { freePort } from '../../scripts/lib/free-port.js';
import type { ComposeClient } from './compose.js';

const run = promisify(execFile);

export interface Container {
  service: string;
  id: string;
  state: string;
  exitCode: number;
  health: string | undefined;
  restartCount: number;
  user: string;
}

/** The fields of `docker inspect` the test reads. */
interface Inspected {
  Id: string;
  RestartCount: number;
  State: { Status: string; ExitCode: number; Health?: { Status: string } };
  Config: { User: string; Labels: Record<string, string> };
}

/**
 * One compose project on the real engine: its own name, free host ports and subnet, so that it
 * can run beside a user's lab (or another test's). Every command gets the same variables, as
 * a user's shell and .env would give them.
 */
export class ComposeProject {
  readonly env: Record<string, string>;

  private constructor(
    readonly client: ComposeClient,
    readonly root: string,
    readonly name: string,
    readonly labPort: number,
    readonly adminPort: number,
  ) {
    this.env = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/root',
      COMPOSE_PROJECT_NAME: name,
      LAB_PORT: String(labPort),
      LAB_ADMIN_PORT: String(adminPort),
      // 172.30.80.0/24 is the documented default: a test next to a user's lab must not take it.
      LAB_SUBNET: `172.30.${100 + randomBytes(1)[0]! % 150}.0/24`,
      // The documented command and a user's shell carry no secret: the secrets step generates them.
      LOG_LEVEL: 'info',
    };
  }

  static async create(client: ComposeClient, root: string): Promise<ComposeProject> {
    const name = `coatcheck-test-${randomBytes(3).toString('hex')}`;
    return new ComposeProject(client, root, name, await freePort(), await freePort());
  }

  get url(): string {
    return `http://127.0.0.1:${this.labPort}`;
  }

  get adminUrl(): string {
    return `http://127.0.0.1:${this.adminPort}`;
  }

  /** `docker compose <args>` for this project; rejects with the command's own output. */
  async compose(args: string[], timeoutMs = 300_000): Promise<string> {
    const [program, ...rest] = this.client.argv;
    try {
      const { stdout, stderr } = await run(program, [...rest, ...args], { cwd: this.root, env: this.env, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
      return stdout + stderr;
    } catch (err) {
      const { stdout = '', stderr = '' } = err as { stdout?: string; stderr?: string };
      throw new Error(`${this.client.name} ${args.join(' ')} failed:\n${stdout}${stderr}`, { cause: err });
    }
  }

  /** A shell command as a user would type it, in the project's directory and variables. */
  async shell(command: string, timeoutMs = 300_000): Promise<string> {
    try {
      const { stdout, stderr } = await run('sh', ['-c', command], { cwd: this.root, env: this.env, timeout: timeoutMs });
      return stdout + stderr;
    } catch (err) {
      const { stdout = '', stderr = '' } = err as { stdout?: string; stderr?: string };
      throw new Error(`${command} failed:\n${stdout}${stderr}`, { cause: err });
    }
  }

  /**
   * Starts services and returns once every one is healthy (or, for a one-shot, exited 0):
   * Compose v2 waits itself (--wait); docker-compose 1.29 has no --wait, so the engine is asked.
   */
  async up(options: { global?: string[]; flags?: string[] } = {}): Promise<void> {
    const wait = this.client.name === 'docker compose' ? ['--wait', '--wait-timeout', '300'] : [];
    await this.compose([...(options.global ?? []), 'up', '-d', ...wait, ...(options.flags ?? [])], 600_000);
    await this.waitHealthy();
  }

  /** Every container of the project, as the engine sees it (one `docker inspect`). */
  async containers(): Promise<Container[]> {
    const ids = (await this.docker(['ps', '-aq', '--filter', `label=com.docker.compose.project=${this.name}`])).split('\n').filter(Boolean);
    if (ids.length === 0) return [];
    const inspected = JSON.parse(await this.docker(['inspect', ...ids])) as Inspected[];
    return inspected.map((c) => ({
      service: c.Config.Labels['com.docker.compose.service'] ?? '',
      id: c.Id,
      state: c.State.Status,
      exitCode: c.State.ExitCode,
      health: c.State.Health?.Status,
      restartCount: c.RestartCount,
      user: c.Config.User,
    }));
  }

  async container(service: string): Promise<Container> {
    const found = (await this.containers()).find((c) => c.service === service);
    if (!found) throw new Error(`no container for ${service} in ${this.name}`);
    return found;
  }

  /** Until every container with a healthcheck is healthy and every one-shot has exited 0. */
  async waitHealthy(timeoutMs = 300_000): Promise<Container[]> {
    const deadline = Date.now() + timeoutMs;
    let last: Container[] = [];
    while (Date.now() < deadline) {
      last = await this.containers();
      const bad = last.find((c) => c.state === 'exited' && c.exitCode !== 0 && c.restartCount === 0 && c.service === 'secrets');
      if (bad) throw new Error(`${bad.service} exited with ${bad.exitCode}`);
      const ready = last.length > 0 && last.every((c) => (c.health === undefined ? c.state === 'exited' && c.exitCode === 0 : c.state === 'running' && c.health === 'healthy'));
      if (ready) return last;
      await new Promise((r) => setTimeout(r, 500));
    }
    throw new Error(`not healthy within ${timeoutMs} ms: ${last.map((c) => `${c.service} ${c.state}/${c.health ?? '-'}`).join(', ')}`);
  }

  async logs(services: string[] = [], tail = 'all'): Promise<string> {
    return this.compose(['--profile', 'scale', 'logs', '--no-color', '--tail', tail, ...services]).catch((err: Error) => err.message);
  }

  async adminToken(): Promise<string> {
    return (await this.compose(['exec', '-T', 'balancer', 'cat', '/run/coatcheck/admin_token'])).trim();
  }

  /** What the project left on the engine: containers, networks and volumes by compose label. */
  async leftovers(): Promise<string[]> {
    const label = `label=com.docker.compose.project=${this.name}`;
    const [containers, networks, volumes] = await Promise.all([
      this.docker(['ps', '-aq', '--filter', label]),
      this.docker(['network', 'ls', '-q', '--filter', label]),
      this.docker(['volume', 'ls', '-q', '--filter', label]),
    ]);
    return [
      ...containers.split('\n').filter(Boolean).map((id) => `container ${id}`),
      ...networks.split('\n').filter(Boolean).map((id) => `network ${id}`),
      ...volumes.split('\n').filter(Boolean).map((id) => `volume ${id}`),
    ];
  }

  /** Removes everything, whatever state the test left it in. */
  async destroy(): Promise<void> {
    await this.compose(['--profile', 'scale', '--profile', 'haproxy', 'down', '-v', '--remove-orphans', '--timeout', '5']).catch(() => undefined);
  }

  private async docker(args: string[]): Promise<string> {
    const { stdout } = await run('docker', args, { env: this.env, maxBuffer: 16 * 1024 * 1024 });
    return stdout;
  }
}
