import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadBalancerConfig } from '../proxy/config.js';
import { freePort } from '../scripts/lib/free-port.js';
import { stopChild } from '../scripts/lib/processes.js';
import { startRedisServer, type RedisServer } from '../scripts/lib/redis-server.js';
import { loadConfig } from '../services/config.js';
import {
  PortMap,
  buildLikeDockerfile,
  composeConfig,
  containerPorts,
  localEnvironment,
  packagesImportedBy,
  parseDockerfile,
  startLocal,
  volumeMounts,
  waitCompleted,
  waitHealthy,
  type ComposeFile,
  type LocalImage,
  type LocalProcess,
} from './helpers/compose.js';
import { Client } from './helpers/http.js';
import { waitFor } from './helpers/lab.js';

// No Docker engine here: the compose file is checked by docker-compose itself, then every
// service's command runs as a local process with that service's environment, from a build
// that follows the Dockerfile. A wrong variable, port or command fails this file.

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

// docker-compose is a Python program (about half a second a run): each variant resolves once.
const resolvedCache = new Map<string, Promise<ComposeFile>>();
function resolved(variables: Record<string, string> = {}, envFile?: string): Promise<ComposeFile> {
  const key = JSON.stringify([variables, envFile]);
  if (!resolvedCache.has(key)) resolvedCache.set(key, composeConfig(root, variables, envFile).then((text) => parse(text) as ComposeFile));
  return resolvedCache.get(key)!;
}

// The build runs tsc for real; on a busy two-core machine it can take half a minute.
const SLOW_HOOK_MS = 120_000;

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
  it('is accepted by docker-compose config, with and without MODE', async () => {
    const memory = await resolved();
    const redis = await resolved({ MODE: 'redis' });
    expect(memory.services.balancer?.environment?.LAB_MODE).toBe('memory');
    expect(redis.services.balancer?.environment?.LAB_MODE).toBe('redis');
  });

  it('runs Redis, three instances and the balancer; a fourth instance waits behind the scale profile', () => {
    const started = Object.entries(written.services).filter(([, s]) => !s.profiles).map(([name]) => name);
    expect(started.sort()).toEqual(['app-1', 'app-2', 'app-3', 'balancer', 'redis', 'secrets']);
    expect(written.services['app-4']?.profiles).toEqual(['scale']);
    for (const name of [...APPS, 'app-4']) expect(written.services[name]?.environment?.INSTANCE_ID).toBe(name);
  });

  it('gives every long-running service a healthcheck and a restart policy, and node services an init process', () => {
    for (const [name, service] of Object.entries(written.services).filter(([n]) => n !== 'secrets')) {
      expect(service.healthcheck?.test, name).toBeDefined();
      expect(['always', 'unless-stopped', 'on-failure'], name).toContain(service.restart);
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
      const [dirVolume, dir] = init.volumes!.find((v) => v.split(':')[1] === init.environment?.SECRETS_DIR)!.split(':');
      expect(Object.keys(config.volumes ?? {})).toContain(dirVolume);
      expect(init.command?.[0]).toBe('node');
      for (const [name, reads] of Object.entries(READS)) {
        const env = config.services[name]!.environment!;
        expect(config.services[name]!.volumes, name).toContain(`${dirVolume}:${dir}:ro`);
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
    const volume = redis.volumes?.find((v) => v.endsWith(':/data'));
    expect(volume).toBeDefined();
    expect(Object.keys(written.volumes ?? {})).toContain(volume!.split(':')[0]);
  });

  it('publishes the balancer on 8080 and the admin API on 8081, on loopback only', async () => {
    const balancer = (await resolved()).services.balancer!;
    expect(balancer.ports?.sort()).toEqual(['127.0.0.1:8080:8080/tcp', '127.0.0.1:8081:8081/tcp']);
    expect(balancer.environment).toMatchObject({ PORT: '8080', ADMIN_PORT: '8081' });
    // The names a browser on the host and the healthcheck reach the published admin port under pass its Host check.
    const allowed = loadBalancerConfig(withStandInSecrets(balancer.environment)).adminAllowedHosts;
    const healthcheck = new URL(/fetch\('([^']+)'\)/.exec(balancer.healthcheck!.test.join(' '))![1]!).hostname;
    for (const name of ['localhost', '127.0.0.1', healthcheck]) expect(allowed, name).toContain(name);
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
    const read = (name: string) => readFileSync(join(volumes, 'lab-secrets', name.toLowerCase()), 'utf8');
    async function runStep(variables: Record<string, string>): Promise<string> {
      const config = await resolved(variables);
      const init = config.services.secrets!;
      const env = localEnvironment('secrets', init, new PortMap(), [], subnetOf(config), volumeMounts(init, config, volumes));
      const proc = startLocal('secrets', init.command!, volumes, env);
      await waitCompleted(proc);
      return proc.output.join('\n');
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
      const ports = new PortMap();
      for (const [name, service] of Object.entries(config.services)) for (const port of containerPorts(service)) ports.set(name, port, port);
      const local = (name: string) => localEnvironment(name, config.services[name]!, ports, [], subnetOf(config), volumeMounts(config.services[name]!, config, volumes));
      expect(loadConfig(local('app-1'))).toMatchObject({ sessionSecrets: ['a'.repeat(40), first.SESSION_SECRET], controlToken: first.CONTROL_TOKEN });
      expect(loadBalancerConfig(local('balancer'))).toMatchObject({ controlToken: first.CONTROL_TOKEN, adminToken: first.ADMIN_TOKEN });
      // A value too short for a secret is written as given, and the instances refuse it with a message.
      await runStep({ SESSION_SECRET: 'change-me' });
      expect(() => loadConfig(local('app-1'))).toThrow(/SESSION_SECRET/);
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
    for (const name of NODE_SERVICES) expect(written.services[name]?.image).toBe(written.services['app-1']?.image);
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

interface LocalLab {
  url: string;
  adminUrl: string;
  start(name: string): Promise<LocalProcess>;
  ports: PortMap;
  /** Admin writes, with the token the secrets step wrote for the balancer. */
  admin(method: string, path: string, body: object): Promise<Response>;
  close(): Promise<void>;
}

/**
 * Starts the resolved compose services as local processes, in depends_on order: each once its
 * dependencies pass their healthchecks (service_healthy) or have exited 0 (service_completed_successfully).
 * Named volumes are directories under one scratch directory.
 */
async function startComposeLab(config: ComposeFile, image: LocalImage, redis: RedisServer): Promise<LocalLab> {
  const names = Object.keys(config.services);
  const subnet = subnetOf(config);
  const ports = new PortMap();
  for (const [name, service] of Object.entries(config.services)) {
    for (const port of containerPorts(service)) ports.set(name, port, name === 'redis' ? redis.port : await freePort());
  }
  const volumes = mkdtempSync(join(tmpdir(), 'coatcheck-volumes-'));
  const running: LocalProcess[] = [];
  const reached = new Set(['redis:service_healthy']);

  async function start(name: string): Promise<LocalProcess> {
    const service = config.services[name]!;
    const env = { ...image.env, ...localEnvironment(name, service, ports, names, subnet, volumeMounts(service, config, volumes)) };
    const proc = startLocal(name, service.command ?? image.cmd, image.dir, env);
    running.push(proc);
    if (service.healthcheck) {
      await waitHealthy(proc, service, ports, image.dir, env);
      reached.add(`${name}:service_healthy`);
    } else {
      await waitCompleted(proc);
      reached.add(`${name}:service_completed_successfully`);
    }
    return proc;
  }

  const adminUrl = `http://127.0.0.1:${ports.get('balancer', 8081)}`;
  const lab: LocalLab = {
    url: `http://127.0.0.1:${ports.get('balancer', 8080)}`,
    adminUrl,
    start,
    ports,
    admin: (method, path, body) => {
      const tokenFile = localEnvironment('balancer', config.services.balancer!, ports, names, subnet, volumeMounts(config.services.balancer!, config, volumes)).ADMIN_TOKEN_FILE!;
      return fetch(`${adminUrl}${path}`, {
        method,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${readFileSync(tokenFile, 'utf8').trim()}` },
        body: JSON.stringify(body),
      });
    },
    close: async () => {
      await Promise.all(running.map((p) => stopChild(p.child)));
      rmSync(volumes, { recursive: true, force: true });
    },
  };
  try {
    let pending = names.filter((n) => n !== 'redis' && !config.services[n]!.profiles);
    while (pending.length > 0) {
      const ready = pending.filter((n) => Object.entries(config.services[n]!.depends_on ?? {}).every(([d, { condition }]) => reached.has(`${d}:${condition}`)));
      if (ready.length === 0) throw new Error(`depends_on can never be satisfied for: ${pending.join(', ')}`);
      await Promise.all(ready.map(start));
      pending = pending.filter((n) => !ready.includes(n));
    }
  } catch (err) {
    await lab.close();
    throw err;
  }
  return lab;
}

async function adminState(lab: LocalLab) {
  const response = await fetch(`${lab.adminUrl}/api/state`);
  return (await response.json()) as { mode: string | null; instances: { id: string; up: boolean; store: string | null }[] };
}

describe('the compose services, run from a local build of the image', () => {
  let image: LocalImage;
  let redis: RedisServer;

  beforeAll(async () => {
    [image, redis] = await Promise.all([buildLikeDockerfile(root), startRedisServer({ appendOnly: true })]);
  }, SLOW_HOOK_MS);
  afterAll(async () => {
    await redis?.stop();
    if (image) rmSync(image.scratch, { recursive: true, force: true });
  });

  it('the compiled entry points need production dependencies only', () => {
    const dependencies = Object.keys((JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: object }).dependencies);
    for (const entry of ['dist/services/main.js', 'dist/proxy/main.js']) {
      const used = [...packagesImportedBy(join(image.dir, entry))];
      expect(used.length, entry).toBeGreaterThan(0);
      for (const name of used) expect(dependencies, `${entry} imports ${name}`).toContain(name);
    }
  });

  describe('MODE unset (memory)', () => {
    let lab: LocalLab;
    beforeAll(async () => {
      lab = await startComposeLab(await resolved(), image, redis);
    }, SLOW_HOOK_MS);
    afterAll(() => lab?.close());

    it('serves the dashboard on the admin port and the "be a user" page on the public one', async () => {
      for (const url of [`${lab.adminUrl}/`, `${lab.adminUrl.replace('127.0.0.1', 'localhost')}/`, `${lab.url}/__lab/user`]) {
        const page = await fetch(url);
        expect(page.status, url).toBe(200);
        expect(page.headers.get('content-type'), url).toMatch(/text\/html/);
      }
    });

    it('logs in on one instance and is "logged out" on the two others', async () => {
      const client = new Client(lab.url);
      const login = await client.login('ravi', 'gold-member');
      expect(login.status).toBe(200);
      const served: string[] = [];
      for (let i = 0; i < 6; i++) {
        const profile = await client.profile();
        served.push(profile.servedBy!);
        if (profile.servedBy === login.servedBy) expect(profile.status).toBe(200);
        else expect([profile.status, profile.json.reason]).toEqual([401, 'unknown_session']);
      }
      expect(new Set(served)).toEqual(new Set(APPS));
    });

    it('switches to Redis at runtime on the admin port, and then every instance knows the session', async () => {
      const unauthorised = await fetch(`${lab.adminUrl}/api/mode`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ mode: 'redis' }),
      });
      expect(unauthorised.status).toBe(401);
      const response = await lab.admin('PUT', '/api/mode', { mode: 'redis' });
      expect(response.status).toBe(200);
      const client = new Client(lab.url);
      const login = await client.login('alice', 'wonderland');
      expect(login.status, login.text).toBe(200);
      const served = new Set<string>();
      for (let i = 0; i < 6; i++) {
        const profile = await client.profile();
        expect(profile.status).toBe(200);
        served.add(profile.servedBy!);
      }
      expect(served).toEqual(new Set(APPS));
    });
  });

  describe('MODE=redis', () => {
    let lab: LocalLab;
    beforeAll(async () => {
      lab = await startComposeLab(await resolved({ MODE: 'redis' }), image, redis);
    }, SLOW_HOOK_MS);
    afterAll(() => lab?.close());

    it('brings instances that start with STORE=memory over to Redis', async () => {
      await waitFor(async () => (await adminState(lab)).instances.every((i) => i.store === 'redis'), 'every instance on the redis store');
      expect((await adminState(lab)).mode).toBe('redis');
    });

    it('runs the lesson flow: log in, every instance knows you, log out, the old cookie is dead', async () => {
      const client = new Client(lab.url);
      expect((await client.login('testuser', 'testpass')).status).toBe(200);
      const served = new Set<string>();
      for (let i = 0; i < 6; i++) {
        const profile = await client.profile();
        expect(profile.status).toBe(200);
        served.add(profile.servedBy!);
      }
      expect(served).toEqual(new Set(APPS));
      const oldCookie = client.jar.get('sid')!;
      expect((await client.logout()).status).toBe(200);
      const thief = new Client(lab.url);
      thief.jar.set('sid', oldCookie);
      expect((await thief.profile()).json.reason).toBe('unknown_session');
    });

    it('adds a fourth instance with the step documented in the compose file, without logging anyone out', async () => {
      const client = new Client(lab.url);
      expect((await client.login('bob', 'builder')).status).toBe(200);
      const documented = /-d '(\{"id":"app-4"[^']*\})'/.exec(composeText)?.[1];
      expect(documented).toBeDefined();
      const body = JSON.parse(documented!) as { id: string; url: string };
      await lab.start('app-4');
      expect(composeText).toMatch(/authorization: Bearer \$\(docker compose exec -T balancer cat \/run\/coatcheck\/admin_token\)/);
      const added = await lab.admin('POST', '/api/instances', { ...body, url: lab.ports.hosts(body.url, ['app-4']) });
      expect(added.status).toBe(201);
      // From the moment it is added, keep asking: app-4 starts with STORE=memory, so had it
      // served anyone before the balancer switched it to Redis, that user would get a 401.
      const served: string[] = [];
      const deadline = Date.now() + 15_000;
      while (served.filter((s) => s === 'app-4').length < 2 && Date.now() < deadline) {
        const profile = await client.profile();
        expect(profile.status, `request ${served.length} on ${profile.servedBy}`).toBe(200);
        served.push(profile.servedBy!);
      }
      expect(new Set(served)).toEqual(new Set([...APPS, 'app-4']));
    });
  });
});
