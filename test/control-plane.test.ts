import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createBalancer, type Balancer } from '../proxy/balancer/index.js';
import type { AdminState } from '../proxy/clients/admin-client.js';
import { controlClient } from '../proxy/clients/control-client.js';
import { loadBalancerConfig } from '../proxy/config.js';
import { controlPlane } from '../proxy/control/plugin.js';
import { buildApp } from '../services/app.js';
import { loadConfig } from '../services/config.js';
import { waitFor } from './helpers/lab.js';

// The control plane in this process, in front of real instance apps (buildApp on port 0):
// no launcher, no child processes, the admin API through inject().
const TOKEN = randomBytes(16).toString('hex');
const PREFIX = `test:control:${randomBytes(4).toString('hex')}:`;
const quiet = { debug() {}, info() {}, warn() {}, error() {} };

interface Instance {
  id: string;
  app: FastifyInstance;
  url: string;
}

async function startInstance(id: string, options: { redis: boolean }): Promise<Instance> {
  const app = await buildApp(
    loadConfig({
      INSTANCE_ID: id,
      SESSION_SECRET: randomBytes(32).toString('hex'),
      CONTROL_TOKEN: TOKEN,
      STORE: 'memory',
      REDIS_KEY_PREFIX: PREFIX,
      ...(options.redis && { REDIS_URL: inject('redisUrl') }),
    }),
    { crash: () => {} },
  );
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  return { id, app, url: address };
}

describe('the control plane: atomic mode switch, instances admitted once in line', () => {
  const instances: Instance[] = [];
  let balancer: Balancer;
  let admin: FastifyInstance;
  let publicUrl: string;
  const served: { instance: string; store: string }[] = [];

  const api = async (method: 'GET' | 'PUT' | 'POST' | 'DELETE', url: string, payload?: object) => {
    const response = await admin.inject({ method, url, ...(payload && { payload }) });
    return { status: response.statusCode, body: response.json() as AdminState & { error?: string; message?: string; refused?: { id: string; error: string }[] } };
  };
  const storeOf = (id: string) => instances.find((i) => i.id === id)!.app.sessionStore.kind;

  beforeAll(async () => {
    instances.push(await startInstance('app-1', { redis: true }), await startInstance('app-2', { redis: true }), await startInstance('app-3', { redis: false }));
    const config = loadBalancerConfig({
      INSTANCES: instances.map((i) => `${i.id}=${i.url}`).join(','),
      CONTROL_TOKEN: TOKEN,
      LAB_MODE: 'memory',
      HEALTH_INTERVAL_MS: '100',
    });
    balancer = createBalancer(config, quiet);
    balancer.server.listen(0, '127.0.0.1');
    await once(balancer.server, 'listening');
    publicUrl = `http://127.0.0.1:${(balancer.server.address() as AddressInfo).port}`;
    // Which store answered each request, read the moment the balancer got the answer.
    balancer.traffic.on('served', ({ instance }) => served.push({ instance, store: storeOf(instance) }));
    admin = Fastify();
    await admin.register(controlPlane, { balancer, config, log: quiet, channel: { on: () => undefined, off: () => undefined } });
    await admin.ready();
  });
  afterAll(async () => {
    await admin?.close();
    await balancer?.close();
    await Promise.all(instances.map((i) => i.app.close()));
  });

  it('one instance refuses the new store: 409 naming it and why, the old mode kept, the others rolled back', async () => {
    const answer = await api('PUT', '/api/mode', { mode: 'redis' });
    expect(answer.status).toBe(409);
    expect(answer.body.error).toBe('store_switch_refused');
    expect(answer.body.refused).toEqual([{ id: 'app-3', error: expect.stringMatching(/no redis store/) }]);
    expect(answer.body.message).toMatch(/app-3/);
    expect(answer.body).toMatchObject({ mode: 'memory', routing: 'round-robin', store: 'memory' });
    expect(instances.map((i) => storeOf(i.id))).toEqual(['memory', 'memory', 'memory']);
    expect(balancer.routing).toBe('round-robin');
    const state = await api('GET', '/api/state');
    expect(state.body.instances.map((i) => [i.id, i.up, i.store])).toEqual([
      ['app-1', true, 'memory'],
      ['app-2', true, 'memory'],
      ['app-3', true, 'memory'],
    ]);
  });

  it('a routing-only switch changes the balancer and the state, nothing else', async () => {
    const answer = await api('PUT', '/api/mode', { mode: 'sticky' });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ mode: 'sticky', routing: 'cookie', store: 'memory' });
    expect(balancer.routing).toBe('cookie');
  });

  it('without the refusing instance the switch goes through on every instance', async () => {
    expect((await api('DELETE', '/api/instances/app-3')).status).toBe(200);
    const answer = await api('PUT', '/api/mode', { mode: 'redis' });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ mode: 'redis', routing: 'round-robin', store: 'redis' });
    expect(['app-1', 'app-2'].map(storeOf)).toEqual(['redis', 'redis']);
  });

  it('a joining instance with another store takes no traffic before it was given the lab\'s store', async () => {
    instances.push(await startInstance('app-4', { redis: true }));
    served.length = 0;
    let stop = false;
    const load = (async () => {
      while (!stop) await fetch(`${publicUrl}/health`).then((r) => r.arrayBuffer(), () => undefined);
    })();
    try {
      expect((await api('POST', '/api/instances', { id: 'app-4', url: instances.at(-1)!.url })).status).toBe(201);
      await waitFor(() => served.some((s) => s.instance === 'app-4'), 'app-4 to take traffic');
    } finally {
      stop = true;
      await load;
    }
    expect(served.filter((s) => s.instance === 'app-4').every((s) => s.store === 'redis')).toBe(true);
    const state = await api('GET', '/api/state');
    expect(state.body.instances.find((i) => i.id === 'app-4')).toMatchObject({ up: true, store: 'redis' });
  });

  it('an instance that comes back with its start-up store is taken out and brought in line (no time window)', async () => {
    // What a restart looks like from outside: same address, the store it was started with.
    await controlClient(TOKEN).setStore(instances[0]!.url, 'memory');
    await waitFor(() => storeOf('app-1') === 'redis', 'app-1 to be given the redis store again');
    await waitFor(async () => (await api('GET', '/api/state')).body.instances.find((i) => i.id === 'app-1')?.up === true, 'app-1 back in the rotation');
  });
});
