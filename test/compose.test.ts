import { readFileSync, rmSync } from 'node:fs';
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

// docker-compose is a Python program (about half a second a run): each variant resolves once.
const resolvedCache = new Map<string, Promise<ComposeFile>>();
function resolved(variables: Record<string, string> = {}, envFile?: string): Promise<ComposeFile> {
  const key = JSON.stringify([variables, envFile]);
  if (!resolvedCache.has(key)) resolvedCache.set(key, composeConfig(root, variables, envFile).then((text) => parse(text) as ComposeFile));
  return resolvedCache.get(key)!;
}

// The build runs tsc for real; on a busy two-core machine it can take half a minute.
const SLOW_HOOK_MS = 120_000;

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
    expect(started.sort()).toEqual(['app-1', 'app-2', 'app-3', 'balancer', 'redis']);
    expect(written.services['app-4']?.profiles).toEqual(['scale']);
    for (const name of [...APPS, 'app-4']) expect(written.services[name]?.environment?.INSTANCE_ID).toBe(name);
  });

  it('gives every service a healthcheck and a restart policy, and node services an init process', () => {
    for (const [name, service] of Object.entries(written.services)) {
      expect(service.healthcheck?.test, name).toBeDefined();
      expect(['always', 'unless-stopped', 'on-failure'], name).toContain(service.restart);
    }
    // Without an init, node is PID 1, and PID 1 cannot SIGKILL itself: "crash" would do nothing.
    for (const name of NODE_SERVICES) expect(written.services[name]?.init, name).toBe(true);
    expect(written.services.redis?.healthcheck?.test.join(' ')).toMatch(/redis-cli ping/);
  });

  it('starts instances after Redis is healthy and the balancer after every instance is', () => {
    for (const name of [...APPS, 'app-4']) expect(written.services[name]?.depends_on).toEqual({ redis: { condition: 'service_healthy' } });
    expect(written.services.balancer?.depends_on).toEqual(Object.fromEntries(APPS.map((a) => [a, { condition: 'service_healthy' }])));
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
  });

  it('listens on 0.0.0.0 in the containers and trusts forwarded headers from the lab network only', async () => {
    const config = await resolved();
    const subnet = subnetOf(config);
    for (const name of NODE_SERVICES) expect(config.services[name]?.environment?.HOST, name).toBe('0.0.0.0');
    expect(config.services.balancer?.environment?.ADMIN_HOST).toBe('0.0.0.0');
    for (const name of APPS) expect(loadConfig(config.services[name]!.environment).trustProxy).toEqual([subnet]);
  });

  it('chooses the mode with one variable, MODE, default memory', async () => {
    const modes = { memory: ['round-robin', 'memory'], sticky: ['cookie', 'memory'], redis: ['round-robin', 'redis'] };
    for (const [mode, [routing, store]] of Object.entries(modes)) {
      const env = (await resolved(mode === 'memory' ? {} : { MODE: mode })).services.balancer!.environment;
      expect(loadBalancerConfig(env)).toMatchObject({ routing, store });
    }
    expect(() => loadBalancerConfig({ INSTANCES: 'http://x:1', LAB_MODE: 'roundrobin' })).toThrow(/LAB_MODE=roundrobin is not one of: memory, sticky, redis/);
    expect(loadBalancerConfig({ INSTANCES: 'http://x:1', LAB_MODE: 'redis', ROUTING: 'ip-hash' })).toMatchObject({ routing: 'ip-hash', store: 'redis' });
  });

  it('lists every variable it reads in .env.example, whose placeholders are refused at start-up', async () => {
    const example = readFileSync(join(root, '.env.example'), 'utf8');
    const variables = new Set([...composeText.matchAll(/\$\{(\w+)/g)].map((m) => m[1]!));
    for (const name of variables) expect(example, name).toMatch(new RegExp(`^${name}=`, 'm'));
    // Copied without editing: the instances refuse to start rather than run on a known secret.
    const unedited = await resolved({}, join(root, '.env.example'));
    expect(() => loadConfig(unedited.services['app-1']!.environment)).toThrow(/SESSION_SECRET/);
    expect(() => loadConfig({ ...unedited.services['app-1']!.environment, SESSION_SECRET: 'x'.repeat(32) })).toThrow(/CONTROL_TOKEN/);
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
  close(): Promise<void>;
}

/** Starts the resolved compose services as local processes, in depends_on order, each once its dependencies pass their healthchecks. */
async function startComposeLab(config: ComposeFile, image: LocalImage, redis: RedisServer): Promise<LocalLab> {
  const names = Object.keys(config.services);
  const subnet = subnetOf(config);
  const ports = new PortMap();
  for (const [name, service] of Object.entries(config.services)) {
    for (const port of containerPorts(service)) ports.set(name, port, name === 'redis' ? redis.port : await freePort());
  }
  const running: LocalProcess[] = [];
  const healthy = new Set(['redis']);

  async function start(name: string): Promise<LocalProcess> {
    const service = config.services[name]!;
    const env = { ...image.env, ...localEnvironment(name, service, ports, names, subnet) };
    const proc = startLocal(name, service.command ?? image.cmd, image.dir, env);
    running.push(proc);
    await waitHealthy(proc, service, ports, image.dir, env);
    healthy.add(name);
    return proc;
  }

  const lab: LocalLab = {
    url: `http://127.0.0.1:${ports.get('balancer', 8080)}`,
    adminUrl: `http://127.0.0.1:${ports.get('balancer', 8081)}`,
    start,
    ports,
    close: () => Promise.all(running.map((p) => stopChild(p.child))).then(() => undefined),
  };
  try {
    let pending = names.filter((n) => n !== 'redis' && !config.services[n]!.profiles);
    while (pending.length > 0) {
      const ready = pending.filter((n) => Object.keys(config.services[n]!.depends_on ?? {}).every((d) => healthy.has(d)));
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
      for (const url of [`${lab.adminUrl}/`, `${lab.url}/__lab/user`]) {
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
      const response = await fetch(`${lab.adminUrl}/api/mode`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ mode: 'redis' }),
      });
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
      const added = await fetch(`${lab.adminUrl}/api/instances`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ...body, url: lab.ports.hosts(body.url, ['app-4']) }),
      });
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
