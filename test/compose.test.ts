import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadBalancerConfig } from '../proxy/config.js';
import { loadConfig } from '../services/config.js';
import {
  composeClients,
  composeConfig,
  dockerignoreAllows,
  parseDockerfile,
  portSpec,
  volumeSpec,
  type ComposeClient,
  type ComposeFile,
} from './helpers/compose.js';

// The fast, static half: the compose file as every compose client on this machine resolves it,
// the secrets step's script run with this machine's node, and the Dockerfile read as text.
// What only an engine shows (build, network, volumes, restarts, the lesson through the published
// ports) is `npm run test:compose` (test/compose.engine.ts).

const root = fileURLToPath(new URL('..', import.meta.url));
const composeText = readFileSync(join(root, 'docker-compose.yml'), 'utf8');
const written = parse(composeText, { merge: true }) as ComposeFile;
const APPS = ['app-1', 'app-2', 'app-3'];
const NODE_SERVICES = [...APPS, 'app-4', 'balancer'];
const SECRETS = ['SESSION_SECRET', 'CONTROL_TOKEN', 'ADMIN_TOKEN', 'TRUST_PROXY_TOKEN'];
/** Which secrets each service reads, as NAME_FILE only. */
const READS: Record<string, string[]> = {
  ...Object.fromEntries([...APPS, 'app-4'].map((a) => [a, ['SESSION_SECRET', 'CONTROL_TOKEN', 'TRUST_PROXY_TOKEN']])),
  balancer: ['CONTROL_TOKEN', 'ADMIN_TOKEN', 'TRUST_PROXY_TOKEN'],
};
const COMPLETED = { condition: 'service_completed_successfully' };
const HEALTHY = { condition: 'service_healthy' };

const run = promisify(execFile);

// Every client this machine has (the Compose v2 plugin first); the structure checks use the first.
let clients: ComposeClient[] = [];
beforeAll(async () => {
  clients = await composeClients();
  if (clients.length === 0) throw new Error('no compose client: .ci/run installs docker-compose; ../shared/tools/offline-images adds the Compose v2 plugin');
});

// Each variant resolves once (docker-compose 1.29 takes about half a second a run), with the
// scale profile on: Compose v2 leaves a service of an inactive profile out of its output.
const resolvedCache = new Map<string, Promise<ComposeFile>>();
function resolved(variables: Record<string, string> = {}, envFile?: string): Promise<ComposeFile> {
  const key = JSON.stringify([variables, envFile]);
  if (!resolvedCache.has(key)) resolvedCache.set(key, composeConfig(clients[0]!, root, variables, { envFile, profiles: ['scale'] }).then((text) => parse(text) as ComposeFile));
  return resolvedCache.get(key)!;
}

/** A resolved environment with stand-in secret values for the NAME_FILE paths that exist only in the containers. */
function withStandInSecrets(env: Record<string, string> = {}): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    const name = /^(\w+)_FILE$/.exec(key)?.[1];
    if (name && SECRETS.includes(name)) out[name] = `stand-in-${name.toLowerCase()}-`.padEnd(32, 'x');
    else out[key] = value;
  }
  return out;
}

function subnetOf(config: ComposeFile): string {
  const subnet = config.networks?.lab?.ipam?.config?.[0]?.subnet;
  if (!subnet) throw new Error('the compose file fixes no subnet for the lab network');
  return subnet;
}

describe('docker-compose.yml', () => {
  it('is accepted by every compose client here, for every profile and every MODE', async () => {
    for (const client of clients) {
      for (const profiles of [[], ['scale']]) {
        for (const mode of ['', 'memory', 'sticky', 'redis']) {
          const text = await composeConfig(client, root, mode ? { MODE: mode } : {}, { profiles });
          const config = parse(text) as ComposeFile;
          const what = `${client.name} ${profiles.join(' ')} MODE=${mode}`;
          expect(config.services.balancer?.environment?.LAB_MODE, what).toBe(mode || 'memory');
          // docker-compose 1.29 prints every service whatever the profiles; Compose v2 only the active ones.
          if (profiles.includes('scale') || client.name === 'docker compose') expect('app-4' in config.services, what).toBe(profiles.includes('scale'));
        }
      }
    }
  }, 60_000);

  it('runs Redis, three instances and the balancer; a fourth instance waits behind the scale profile', () => {
    const started = Object.entries(written.services).filter(([, s]) => !s.profiles).map(([name]) => name);
    expect(started.sort()).toEqual(['app-1', 'app-2', 'app-3', 'balancer', 'redis', 'secrets']);
    expect(written.services['app-4']?.profiles).toEqual(['scale']);
    for (const name of [...APPS, 'app-4']) expect(written.services[name]?.environment?.INSTANCE_ID).toBe(name);
  });

  it('gives every long-running service a healthcheck and a restart policy, and node services an init process', () => {
    // The sentinel profile's data nodes keep no data: one restarted at once would come back as an
    // empty primary before Sentinel noticed, and its replicas would copy the emptiness. Never restarted.
    const dataNodes = ['redis-node-1', 'redis-node-2', 'redis-node-3'];
    for (const [name, service] of Object.entries(written.services).filter(([n]) => n !== 'secrets')) {
      expect(service.healthcheck?.test, name).toBeDefined();
      expect(dataNodes.includes(name) ? ['no'] : ['always', 'unless-stopped', 'on-failure'], name).toContain(service.restart);
    }
    // Without an init, node is PID 1, and PID 1 cannot SIGKILL itself: "crash" would do nothing.
    for (const name of NODE_SERVICES) expect(written.services[name]?.init, name).toBe(true);
    expect(written.services.redis?.healthcheck?.test.join(' ')).toMatch(/redis-cli ping/);
    // The one-shot secrets step must not be restarted: it runs, writes, exits 0.
    expect([undefined, 'no']).toContain(written.services.secrets?.restart);
  });

  it('starts instances after the secrets step and a healthy Redis, and the balancer after every instance is healthy', () => {
    for (const name of [...APPS, 'app-4']) expect(written.services[name]?.depends_on).toEqual({ secrets: COMPLETED, redis: HEALTHY });
    expect(written.services.balancer?.depends_on).toEqual({ secrets: COMPLETED, ...Object.fromEntries(APPS.map((a) => [a, HEALTHY])) });
  });

  it('carries no secret value: a one-shot step writes them to a volume, the services read NAME_FILE', async () => {
    // No ${SESSION_SECRET:-some-public-default} anywhere: a missing .env must not mean a known secret.
    for (const [, name, fallback] of composeText.matchAll(/\$\{(\w+):?-([^}]*)\}/g)) {
      if (/SECRET|TOKEN|PASSWORD/.test(name!)) expect(fallback, name).toBe('');
    }
    for (const variables of [{}, { SESSION_SECRET: 'from-the-env-file-'.repeat(3) }] as Record<string, string>[]) {
      const config = await resolved(variables);
      const init = config.services.secrets!;
      const [dirVolume, dir] = init.volumes!.map(volumeSpec).find((v) => v.split(':')[1] === init.environment?.SECRETS_DIR)!.split(':');
      expect(Object.keys(config.volumes ?? {})).toContain(dirVolume);
      expect(init.command?.[0]).toBe('node');
      for (const [name, reads] of Object.entries(READS)) {
        const env = config.services[name]!.environment!;
        expect(config.services[name]!.volumes?.map(volumeSpec), name).toContain(`${dirVolume}:${dir}:ro`);
        for (const secret of SECRETS) {
          // Never the value itself, so never both NAME and NAME_FILE.
          expect(env[secret], `${name} ${secret}`).toBeUndefined();
          if (reads.includes(secret)) expect(env[`${secret}_FILE`], `${name} ${secret}_FILE`).toBe(`${dir}/${secret.toLowerCase()}`);
          else expect(env[`${secret}_FILE`], `${name} ${secret}_FILE`).toBeUndefined();
        }
      }
    }
  });

  it('keeps Redis sessions in an append-only file on a named volume', () => {
    const redis = written.services.redis!;
    expect(redis.command?.join(' ')).toMatch(/--appendonly yes/);
    const volume = redis.volumes?.map(volumeSpec).find((v) => v.endsWith(':/data'));
    expect(volume).toBeDefined();
    expect(Object.keys(written.volumes ?? {})).toContain(volume!.split(':')[0]);
  });

  it('publishes the balancer on 8080 and the admin API on 8081, on loopback only; LAB_PORT and LAB_ADMIN_PORT move them', async () => {
    const balancer = (await resolved()).services.balancer!;
    expect(balancer.ports?.map(portSpec).sort()).toEqual(['127.0.0.1:8080:8080/tcp', '127.0.0.1:8081:8081/tcp']);
    expect(balancer.environment).toMatchObject({ PORT: '8080', ADMIN_PORT: '8081' });
    // The names a browser on the host and the healthcheck reach the published admin port under pass its Host check.
    const allowed = loadBalancerConfig(withStandInSecrets(balancer.environment)).adminAllowedHosts;
    const healthcheck = new URL(/fetch\('([^']+)'\)/.exec(balancer.healthcheck!.test.join(' '))![1]!).hostname;
    for (const name of ['localhost', '127.0.0.1', healthcheck]) expect(allowed, name).toContain(name);
    const moved = (await resolved({ LAB_PORT: '18080', LAB_ADMIN_PORT: '18081' })).services.balancer!;
    expect(moved.ports?.map(portSpec).sort()).toEqual(['127.0.0.1:18080:8080/tcp', '127.0.0.1:18081:8081/tcp']);
    for (const [name, service] of Object.entries(written.services)) if (name !== 'balancer') expect(service.ports, name).toBeUndefined();
  });

  it('listens on 0.0.0.0 in the containers and trusts forwarded headers from the lab network only', async () => {
    const config = await resolved();
    const subnet = subnetOf(config);
    for (const name of NODE_SERVICES) expect(config.services[name]?.environment?.HOST, name).toBe('0.0.0.0');
    expect(config.services.balancer?.environment?.ADMIN_HOST).toBe('0.0.0.0');
    for (const name of APPS) expect(loadConfig(withStandInSecrets(config.services[name]!.environment)).trustProxy).toEqual([subnet]);
  });

  it('chooses the mode with one variable, MODE, default memory', async () => {
    const modes = { memory: ['round-robin', 'memory'], sticky: ['cookie', 'memory'], redis: ['round-robin', 'redis'] };
    for (const [mode, [routing, store]] of Object.entries(modes)) {
      const env = (await resolved(mode === 'memory' ? {} : { MODE: mode })).services.balancer!.environment;
      expect(loadBalancerConfig(withStandInSecrets(env))).toMatchObject({ routing, store });
    }
    expect(() => loadBalancerConfig({ INSTANCES: 'http://x:1', LAB_MODE: 'roundrobin' })).toThrow(/LAB_MODE=roundrobin is not one of: memory, sticky, redis/);
    expect(loadBalancerConfig({ INSTANCES: 'http://x:1', LAB_MODE: 'redis', ROUTING: 'ip-hash' })).toMatchObject({ routing: 'ip-hash', store: 'redis' });
  });

  it('lists every variable it reads in .env.example, which leaves the secrets to the secrets step', async () => {
    const example = readFileSync(join(root, '.env.example'), 'utf8');
    const variables = new Set([...composeText.matchAll(/\$\{(\w+)/g)].map((m) => m[1]!));
    for (const name of variables) expect(example, name).toMatch(new RegExp(`^${name}=`, 'm'));
    const unedited = await resolved({}, join(root, '.env.example'));
    for (const name of SECRETS) expect(unedited.services.secrets?.environment?.[name], name).toBe('');
  });

  it('the secrets step generates each secret once, keeps it, and takes a value given in .env instead', async () => {
    const volumes = mkdtempSync(join(tmpdir(), 'coatcheck-volumes-'));
    const read = (name: string) => readFileSync(join(volumes, name.toLowerCase()), 'utf8');
    // The volume's mount point, /run/coatcheck in the containers, is this directory here.
    const local = (env: Record<string, string> = {}) =>
      Object.fromEntries(Object.entries(env).map(([key, value]) => [key, value.startsWith('/run/coatcheck/') ? join(volumes, value.slice('/run/coatcheck/'.length)) : value]));
    async function runStep(variables: Record<string, string>): Promise<string> {
      const init = (await resolved(variables)).services.secrets!;
      const [program, ...args] = init.command!;
      expect(program).toBe('node');
      const { stdout } = await run(process.execPath, args, { env: { ...init.environment, SECRETS_DIR: volumes } });
      return stdout;
    }
    try {
      expect(await runStep({})).not.toMatch(/kept|from/);
      const first = Object.fromEntries(SECRETS.map((name) => [name, read(name)]));
      for (const name of SECRETS) expect(first[name], name).toMatch(/^[0-9a-f]{64}$/);
      expect(new Set(Object.values(first)).size).toBe(SECRETS.length);

      expect(await runStep({})).not.toMatch(/generated/);
      for (const name of SECRETS) expect(read(name), name).toBe(first[name]);

      const own = `${'a'.repeat(40)},${first.SESSION_SECRET}`;
      await runStep({ SESSION_SECRET: own });
      expect(read('SESSION_SECRET')).toBe(own);
      expect(read('ADMIN_TOKEN')).toBe(first.ADMIN_TOKEN);

      // What the services then read from those files.
      const config = await resolved();
      expect(loadConfig(local(config.services['app-1']!.environment))).toMatchObject({ sessionSecrets: ['a'.repeat(40), first.SESSION_SECRET], controlToken: first.CONTROL_TOKEN });
      expect(loadBalancerConfig(local(config.services.balancer!.environment))).toMatchObject({ controlToken: first.CONTROL_TOKEN, adminToken: first.ADMIN_TOKEN });
      // A value too short for a secret is written as given, and the instances refuse it with a message.
      await runStep({ SESSION_SECRET: 'change-me' });
      expect(() => loadConfig(local(config.services['app-1']!.environment))).toThrow(/SESSION_SECRET/);
    } finally {
      rmSync(volumes, { recursive: true, force: true });
    }
  });
});

describe('Dockerfile', () => {
  const dockerfile = parseDockerfile(readFileSync(join(root, 'Dockerfile'), 'utf8'));
  const final = dockerfile.stages.at(-1)!;
  const ops = (op: string) => final.instructions.filter((i) => i.op === op).map((i) => i.args);

  it('builds on a slim image of an LTS (even-numbered) Node line, several stages, one image', () => {
    expect(dockerfile.stages.length).toBeGreaterThan(1);
    for (const stage of dockerfile.stages) expect(stage.from).toMatch(/^node:(\d*[02468])-slim$/);
    for (const name of [...NODE_SERVICES, 'secrets']) expect(written.services[name]?.image, name).toBe(written.services['app-1']?.image);
  });

  it('is built once: one service declares the build, the one every other node service waits for', () => {
    // Four "build: ." would be four builds of one image on a cold "up --build" (each its own npm ci).
    const builders = Object.entries(written.services).filter(([, s]) => s.build).map(([name]) => name);
    expect(builders).toEqual(['secrets']);
    for (const name of NODE_SERVICES) expect(written.services[name]?.depends_on?.secrets, name).toEqual(COMPLETED);
  });

  it('copies only what .dockerignore lets into the build context', () => {
    const ignore = readFileSync(join(root, '.dockerignore'), 'utf8');
    for (const { op, args } of dockerfile.stages.flatMap((s) => s.instructions)) {
      if (op !== 'COPY' || args.startsWith('--from=')) continue;
      for (const source of args.split(/\s+/).slice(0, -1)) expect(dockerignoreAllows(ignore, source), source).toBe(true);
    }
    for (const secretish of ['.env', 'node_modules', '.git']) expect(dockerignoreAllows(ignore, secretish), secretish).toBe(false);
  });

  it('runs compiled JavaScript as a non-root user, with no secret baked in', () => {
    expect(ops('USER').at(-1)).toMatch(/^(?!root$|0$)\w+/);
    const cmd = JSON.parse(ops('CMD').at(-1)!) as string[];
    expect(cmd).toEqual(['node', 'dist/services/main.js']);
    expect(written.services.balancer?.command).toEqual(['node', 'dist/proxy/main.js']);
    const baked = dockerfile.stages.flatMap((s) => s.instructions).filter((i) => ['ENV', 'ARG'].includes(i.op));
    for (const { args } of baked) expect(args).not.toMatch(/SECRET|TOKEN|PASSWORD/i);
  });
});
