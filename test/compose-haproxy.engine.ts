import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { composeClients } from './helpers/compose.js';
import { expectMemoryBug, until } from './helpers/compose-checks.js';
import { ComposeProject } from './helpers/compose-engine.js';
import { Client } from './helpers/http.js';

// `npm run test:compose`, the HAProxy variant: BALANCER=haproxy docker compose --profile haproxy up,
// checked through the published ports only. A project of its own, after the main one.

const root = fileURLToPath(new URL('..', import.meta.url));
const APPS = ['app-1', 'app-2', 'app-3'];

let lab: ComposeProject;
let token = '';

interface State {
  mode: string | null;
  stats: { requests: number };
  instances: { id: string; up: boolean; store: string | null; requests: number }[];
}

async function state(): Promise<State> {
  return (await (await fetch(`${lab.adminUrl}/api/state`)).json()) as State;
}

describe('docker compose with BALANCER=haproxy, on the real engine', () => {
  beforeAll(async () => {
    const [client] = await composeClients();
    if (!client || client.name !== 'docker compose') throw new Error('the haproxy profile needs Compose v2: run ../shared/tools/offline-images (it adds the plugin)');
    lab = await ComposeProject.create(client, root);
    lab.env.BALANCER = 'haproxy';
    lab.env.COMPOSE_PROFILES = 'haproxy';
    try {
      await lab.up({ global: ['--progress', 'quiet'], flags: ['--build'] });
    } catch (err) {
      process.stdout.write(`\n--- docker compose logs (up failed) ---\n${await lab.logs([], '100')}\n`);
      await lab.destroy();
      throw err;
    }
    token = await lab.adminToken();
  }, 900_000);

  afterAll(async () => {
    await lab?.destroy();
  }, 120_000);

  it('runs HAProxy healthy beside the balancer, which serves the admin port and the dashboard', async () => {
    const containers = await lab.containers();
    expect(containers.map((c) => c.service).sort()).toEqual([...APPS, 'balancer', 'haproxy', 'redis', 'secrets'].sort());
    expect((await lab.container('haproxy')).health).toBe('healthy');
    expect((await fetch(`${lab.adminUrl}/`)).status).toBe(200);
    expect((await fetch(`${lab.url}/__lab/user`)).status).toBe(200);
  });

  it('memory: the bug, each answer named by its instance; the dashboard counts what HAProxy served', async () => {
    const before = (await state()).stats.requests;
    await expectMemoryBug(lab.url, APPS);
    await until('the seven requests in the balancer\'s counters', state, (s) => s.stats.requests >= before + 7);
  });

  it('sticky, switched at runtime: HAProxy reloads and pins each browser with its cookie', async () => {
    const response = await fetch(`${lab.adminUrl}/api/mode`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: '{"mode":"sticky"}',
    });
    expect(response.status, await response.clone().text()).toBe(200);
    const client = new Client(lab.url);
    const login = await client.login('bob', 'builder');
    expect(login.status, login.text).toBe(200);
    expect(login.headers.getSetCookie().join()).toMatch(new RegExp(`coatcheck_lb=${login.servedBy}; path=/; HttpOnly; SameSite=Lax`));
    for (let i = 0; i < 6; i++) {
      const profile = await client.profile();
      expect([profile.status, profile.servedBy]).toEqual([200, login.servedBy]);
    }
  });

  it('"--profile haproxy down -v" leaves no container, network or volume', async () => {
    await lab.compose(['--profile', 'haproxy', 'down', '-v']);
    expect(await lab.leftovers()).toEqual([]);
  });
});
