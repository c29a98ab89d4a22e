import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { composeClients } from './helpers/compose.js';
import { expectMemoryBug, until } from './helpers/compose-checks.js';
import { ComposeProject } from './helpers/compose-engine.js';
import { Client } from './helpers/http.js';

// `npm run test:compose`: the lab as a user runs it, `docker compose up --build` on the real
// engine, checked through the published ports only. Not part of `npm test` (vitest.compose.config.ts).
// One project for the whole file, in the order a workshop goes: memory, sticky, redis (switched
// at runtime on the admin API), MODE=redis at start, the scale step, then the documented teardown.

const root = fileURLToPath(new URL('..', import.meta.url));
const APPS = ['app-1', 'app-2', 'app-3'];
const NODE_SERVICES = [...APPS, 'balancer'];

interface State {
  mode: string | null;
  instances: { id: string; up: boolean; store: string | null }[];
  redisTopology?: { primary: string | null; replicas: unknown[] } | null;
}

let lab: ComposeProject;
let token = '';
let logsShown = false;

async function state(): Promise<State> {
  return (await (await fetch(`${lab.adminUrl}/api/state`)).json()) as State;
}

async function admin(method: string, path: string, body: object = {}): Promise<Response> {
  return fetch(`${lab.adminUrl}${path}`, {
    method,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
}

async function switchMode(mode: string): Promise<void> {
  const response = await admin('PUT', '/api/mode', { mode });
  expect(response.status, await response.clone().text()).toBe(200);
  await until(`every instance on the ${mode} mode's store`, state, (s) => s.mode === mode && s.instances.every((i) => i.up && i.store === (mode === 'redis' ? 'redis' : 'memory')));
}

/** Crashes an instance on the admin API and waits until its restart policy has brought it back, healthy and in the rotation. */
async function crashAndWaitBack(id: string, during?: () => Promise<void>): Promise<void> {
  const before = await lab.container(id);
  const crash = await admin('POST', `/api/instances/${id}/crash`);
  expect(crash.status, await crash.clone().text()).toBe(202);
  await until(`${id} restarted by its restart policy`, () => lab.container(id), (c) => c.restartCount > before.restartCount, 60_000);
  await until(`${id} healthy again`, () => lab.container(id), (c) => c.state === 'running' && c.health === 'healthy', 90_000);
  await until(`${id} back in the balancer's rotation`, state, (s) => s.instances.some((i) => i.id === id && i.up));
  await during?.();
}

function timed(label: string, started: number): void {
  process.stdout.write(`compose: ${label} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}

describe(`docker compose, on the real engine`, () => {
  beforeAll(async () => {
    // The v2 plugin when there is one; COMPOSE_TEST_CLIENT=docker-compose runs the same checks with 1.29.
    const clients = await composeClients();
    const client = process.env.COMPOSE_TEST_CLIENT ? clients.find((c) => c.name === process.env.COMPOSE_TEST_CLIENT) : clients[0];
    if (!client) throw new Error(`no compose client${process.env.COMPOSE_TEST_CLIENT ? ` named ${process.env.COMPOSE_TEST_CLIENT}` : ''}: install docker.io and run ../shared/tools/offline-images (it adds the Compose v2 plugin)`);
    lab = await ComposeProject.create(client, root);
    process.stdout.write(`compose: ${client.name}, project ${lab.name}, ports ${lab.labPort}/${lab.adminPort}, subnet ${lab.env.LAB_SUBNET}\n`);
    const started = Date.now();
    try {
      // As the docs say to start it: --build, so the image is this checkout's code.
      await lab.up({ global: client.name === 'docker compose' ? ['--progress', 'quiet'] : [], flags: ['--build'] });
    } catch (err) {
      process.stdout.write(`\n--- docker compose logs (up failed) ---\n${await lab.logs([], '100')}\n`);
      logsShown = true;
      await lab.destroy();
      throw err;
    }
    timed('up --build to healthy', started);
    token = await lab.adminToken();
  }, 900_000);

  beforeEach(({ onTestFailed }) => {
    onTestFailed(async () => {
      if (logsShown) return;
      logsShown = true;
      process.stdout.write(`\n--- docker compose logs (a check failed) ---\n${await lab.logs([], '150')}\n${JSON.stringify(await lab.containers(), null, 1)}\n`);
    });
  });

  afterAll(async () => {
    await lab?.destroy();
  }, 120_000);

  it('brings every service up healthy, the secrets step having exited 0', async () => {
    const containers = await lab.containers();
    expect(containers.map((c) => c.service).sort()).toEqual([...APPS, 'balancer', 'redis', 'secrets'].sort());
    for (const c of containers) {
      if (c.service === 'secrets') expect([c.state, c.exitCode], c.service).toEqual(['exited', 0]);
      else expect([c.state, c.health], c.service).toEqual(['running', 'healthy']);
    }
  });

  it('runs every node service as a non-root user', async () => {
    for (const service of NODE_SERVICES) {
      const uid = (await lab.compose(['exec', '-T', service, 'id', '-u'])).trim();
      expect(uid, service).not.toBe('0');
    }
  });

  it('logs start-up only: its own healthchecks leave no line in any log', async () => {
    // The balancer is healthy, so its healthcheck has run at least once; no test request yet.
    const logs = await lab.logs(NODE_SERVICES);
    // The balancer's /api/state every 5 s, the instances' /health from Docker and the balancer's pool.
    expect(logs).not.toMatch(/\/api\/state|\/health\b|incoming request|request completed|admin read/);
  });

  it('serves the dashboard on the admin port and the "be a user" page on the public port', async () => {
    for (const url of [`${lab.adminUrl}/`, `${lab.url}/__lab/user`]) {
      const page = await fetch(url);
      expect(page.status, url).toBe(200);
      expect(page.headers.get('content-type'), url).toMatch(/text\/html/);
    }
    expect((await state()).mode).toBe('memory');
  });

  it('memory: logs in on one instance and is "logged out" on the two others, each named', async () => {
    await expectMemoryBug(lab.url, APPS);
  });

  it('memory: a crashed instance is brought back by its restart policy, with an empty logbook', async () => {
    const client = new Client(lab.url);
    const login = await client.login('alice', 'wonderland');
    expect(login.status, login.text).toBe(200);
    await crashAndWaitBack(login.servedBy!);
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await client.profile());
    const home = answers.find((a) => a.servedBy === login.servedBy);
    expect(home && [home.status, home.json.reason]).toEqual([401, 'unknown_session']);
  });

  it('sticky (switched at runtime, refused without the token): every visit lands on the login instance', async () => {
    const refused = await fetch(`${lab.adminUrl}/api/mode`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"mode":"sticky"}' });
    expect(refused.status).toBe(401);
    await switchMode('sticky');
    const client = new Client(lab.url);
    const login = await client.login('bob', 'builder');
    expect(login.status, login.text).toBe(200);
    for (let i = 0; i < 6; i++) {
      const profile = await client.profile();
      expect([profile.status, profile.servedBy]).toEqual([200, login.servedBy]);
    }
  });

  it('redis (switched at runtime): the lesson flow, log in, every instance knows you, log out, the old cookie is dead', async () => {
    await switchMode('redis');
    const client = new Client(lab.url);
    expect((await client.login('testuser', 'testpass')).status).toBe(200);
    const served = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const profile = await client.profile();
      expect(profile.status, profile.text).toBe(200);
      served.add(profile.servedBy!);
    }
    expect(served).toEqual(new Set(APPS));
    const oldCookie = client.jar.get('sid')!;
    const logout = await client.logout();
    expect([logout.status, logout.json.loggedOut]).toEqual([200, true]);
    const thief = new Client(lab.url);
    thief.jar.set('sid', oldCookie);
    for (let i = 0; i < 3; i++) expect((await thief.profile()).json.reason).toBe('unknown_session');
  });

  it('redis: a crash loses no session', async () => {
    const client = new Client(lab.url);
    expect((await client.login('ravi', 'gold-member')).status).toBe(200);
    const statuses: number[] = [];
    await crashAndWaitBack('app-2', async () => {
      const served = new Set<string>();
      for (let i = 0; i < 6; i++) {
        const profile = await client.profile();
        statuses.push(profile.status);
        served.add(profile.servedBy!);
      }
      expect(served).toEqual(new Set(APPS));
    });
    expect(statuses.every((s) => s === 200), statuses.join(',')).toBe(true);
  });

  it('redis: sessions survive "docker compose restart redis" (append-only file on the volume)', async () => {
    const client = new Client(lab.url);
    expect((await client.login('alice', 'wonderland')).status).toBe(200);
    await lab.compose(['restart', 'redis']);
    await lab.waitHealthy();
    // While Redis is away an instance may answer 503 store_unavailable; never 401.
    const answer = await until('a 200 with the cookie from before the restart', () => client.profile(), (a) => a.status === 200 || a.status === 401);
    expect(answer.status, answer.text).toBe(200);
    for (let i = 0; i < 3; i++) expect((await client.profile()).status).toBe(200);
  });

  it('MODE=redis at start: "up" recreates the balancer, which brings the instances over to Redis', async () => {
    const client = new Client(lab.url);
    expect((await client.login('bob', 'builder')).status).toBe(200);
    await switchMode('memory');
    lab.env.MODE = 'redis';
    await lab.up();
    await until('mode redis, every instance on the redis store', state, (s) => s.mode === 'redis' && s.instances.every((i) => i.up && i.store === 'redis'));
    // Bob's session was written to Redis, and Redis never left: he is still logged in.
    for (let i = 0; i < 3; i++) expect((await client.profile()).status).toBe(200);
  });

  it('scale: the documented step adds app-4, healthy and in the rotation, without logging anyone out', async ({ skip }) => {
    // docker-compose 1.29 has no --wait: the docs give it a step of its own (docs/docker.md).
    if (lab.client.name !== 'docker compose') skip('the documented scale step needs Compose v2');
    const guide = readFileSync(join(root, 'docs/docker.md'), 'utf8');
    const documented = /^ *(docker compose --profile scale up -d --wait app-4 &&(?:[^\n]*\\\n)*[^\n]*)/m.exec(guide)?.[1];
    expect(documented, 'the scale step in docs/docker.md').toBeDefined();
    expect(readFileSync(join(root, 'docs/workshop.md'), 'utf8')).toContain('docker compose --profile scale up -d --wait app-4 &&');
    const client = new Client(lab.url);
    expect((await client.login('testuser', 'testpass')).status).toBe(200);
    const started = Date.now();
    const output = await lab.shell(documented!.replace(/\n */g, '\n').replaceAll('http://localhost:8081', lab.adminUrl));
    timed('scale step (app-4 up and registered)', started);
    expect(output).toMatch(/"app-4"/);
    expect((await lab.container('app-4')).health).toBe('healthy');
    await until('app-4 up on the redis store', state, (s) => s.instances.some((i) => i.id === 'app-4' && i.up && i.store === 'redis'));
    const served: string[] = [];
    for (let i = 0; i < 8; i++) {
      const profile = await client.profile();
      expect(profile.status, `request ${i} on ${profile.servedBy}`).toBe(200);
      served.push(profile.servedBy!);
    }
    expect(new Set(served)).toEqual(new Set([...APPS, 'app-4']));
  });

  it('sentinel: the documented env file puts Redis behind Sentinel; a killed primary costs 503s, then the session is back', async () => {
    expect(readFileSync(join(root, 'docs/redis-ha.md'), 'utf8')).toContain('docker compose --env-file compose-sentinel.env up --build --wait');
    // What --env-file compose-sentinel.env sets; the project's own ports and subnet stay.
    const sentinelEnv = Object.fromEntries(
      readFileSync(join(root, 'compose-sentinel.env'), 'utf8')
        .split('\n')
        .filter((line) => /^[A-Z_]+=/.test(line))
        .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
    );
    Object.assign(lab.env, sentinelEnv);
    const started = Date.now();
    await lab.up();
    timed('sentinel profile up', started);
    const before = await until('every instance on Redis through Sentinel, a primary named', state, (s) => s.mode === 'redis' && s.instances.every((i) => i.up && i.store === 'redis') && Boolean(s.redisTopology?.primary));
    const client = new Client(lab.url);
    expect((await client.login('alice', 'wonderland')).status).toBe(200);
    expect((await client.profile()).status).toBe(200);

    await lab.compose(['kill', 'redis-node-1']);
    await until('Sentinel to promote a replica', state, (s) => Boolean(s.redisTopology?.primary) && s.redisTopology!.primary !== before.redisTopology!.primary);
    await until('alice served again, still logged in', () => client.profile(), (r) => r.status === 200, 60_000);

    // Back to the default lab for the steps after this one (the teardown names the scale profile only).
    await lab.compose(['rm', '-sfv', 'sentinel-1', 'sentinel-2', 'sentinel-3', 'redis-node-1', 'redis-node-2', 'redis-node-3']);
    for (const name of Object.keys(sentinelEnv)) delete lab.env[name];
  });

  it('logs no deprecation warning, and one line per event (JSON from every node service)', async () => {
    const logs = await lab.logs([...NODE_SERVICES, 'app-4']);
    expect(logs).not.toMatch(/DeprecationWarning|\(node:\d+\) |DEP0\d{3}/);
    // "service-1  | line" (docker-compose 1.29 adds an "Attaching to ..." header line of its own).
    const lines = logs.split('\n').filter((l) => /^\S*[\w.-]+\s+\|/.test(l)).map((l) => l.replace(/^[^|]*\|\s?/, ''));
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(() => JSON.parse(line) as unknown, line).not.toThrow();
  });

  it('the documented teardown, "--profile scale down -v", leaves no container, network or volume', async () => {
    const guide = readFileSync(join(root, 'docs/docker.md'), 'utf8');
    expect(guide).toContain('docker compose --profile scale down -v');
    await lab.compose(['--profile', 'scale', 'down', '-v']);
    expect(await lab.leftovers()).toEqual([]);
  });
});
