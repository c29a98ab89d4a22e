import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Lab } from '../scripts/lab.js';
import { Client } from './helpers/http.js';
import { startTestLab, waitFor } from './helpers/lab.js';

async function loggedInClient(lab: Lab) {
  const client = new Client(lab.url);
  const login = await client.login();
  expect(login.status).toBe(200);
  return { client, createdBy: login.json.createdBy as string };
}

async function profiles(client: Client, n: number) {
  const results = [];
  for (let i = 0; i < n; i++) results.push(await client.profile());
  return results;
}

describe('memory mode, 3 instances: the bug', () => {
  let lab: Lab;
  beforeAll(async () => (lab = await startTestLab({ mode: 'memory', instances: 3 })));
  afterAll(() => lab?.close());

  it('logs the user out on the very next request, which lands on another instance', async () => {
    const { client, createdBy } = await loggedInClient(lab);
    const next = await client.profile();
    expect(next.servedBy).not.toBe(createdBy);
    expect(next.status).toBe(401);
    expect(next.json.reason).toBe('unknown_session');
    expect(next.json.message).toContain(`memory store of ${next.servedBy}`);
  });

  it('answers 200 only on the instance that holds the session: (N-1)/N of follow-ups fail', async () => {
    const { client, createdBy } = await loggedInClient(lab);
    const results = await profiles(client, 9);
    for (const r of results) expect(r.status).toBe(r.servedBy === createdBy ? 200 : 401);
    expect(results.filter((r) => r.status === 401)).toHaveLength(6);
    // The cookie survives a miss: going back to the right instance still works.
    expect(client.jar.has('sid')).toBe(true);
  });
});

describe('sticky mode', () => {
  let lab: Lab;
  beforeAll(async () => (lab = await startTestLab({ mode: 'sticky', instances: 3 })));
  afterAll(() => lab?.close());

  it('keeps every user on the instance that holds the session', async () => {
    const users = await Promise.all(Array.from({ length: 6 }, () => loggedInClient(lab)));
    for (const { client, createdBy } of users) {
      expect(client.jar.get('coatcheck_lb')).toBe(createdBy);
      for (const r of await profiles(client, 4)) {
        expect(r.status).toBe(200);
        expect(r.servedBy).toBe(createdBy);
      }
    }
    // Affinity spreads users: more than one instance holds sessions.
    expect(new Set(users.map((u) => u.createdBy)).size).toBeGreaterThan(1);
  });

  it('logs out the users of an instance that dies, moves them and re-pins them', async () => {
    const { client, createdBy } = await loggedInClient(lab);
    const restarted = lab.waitForRestart(createdBy);
    await lab.killInstance(createdBy);
    const after = await client.profile();
    // The balancer retried the refused connection on a live instance: no 5xx, but that logbook is gone.
    expect(after.status).toBe(401);
    expect(after.servedBy).not.toBe(createdBy);
    expect(client.jar.get('coatcheck_lb')).toBe(after.servedBy);
    await restarted;
    // Logging in again pins the user to a live instance and works from then on.
    const again = await client.login();
    expect(again.status).toBe(200);
    for (const r of await profiles(client, 3)) expect(r.status).toBe(200);
  });
});

describe('redis mode', () => {
  let lab: Lab;
  beforeAll(async () => (lab = await startTestLab({ mode: 'redis', instances: 3 })));
  afterAll(() => lab?.close());

  it('keeps the user logged in on every instance', async () => {
    const { client } = await loggedInClient(lab);
    const results = await profiles(client, 6);
    expect(new Set(results.map((r) => r.servedBy)).size).toBe(3);
    for (const r of results) expect(r.status).toBe(200);
  });

  it('loses no session when an instance is killed, and sends no error to the client', async () => {
    const users = await Promise.all(Array.from({ length: 4 }, () => loggedInClient(lab)));
    const restarted = lab.waitForRestart('app-2');
    await lab.killInstance('app-2');
    for (const { client } of users) {
      for (const r of await profiles(client, 3)) expect(r.status).toBe(200);
    }
    await restarted;
    await waitFor(async () => {
      const state = await lab.admin.state();
      return state.instances.every((i) => i.up);
    }, 'app-2 to be marked up again');
    for (const { client } of users) for (const r of await profiles(client, 3)) expect(r.status).toBe(200);
  });
});

describe('runtime switch', () => {
  let lab: Lab;
  beforeAll(async () => (lab = await startTestLab({ mode: 'memory', instances: 3 })));
  afterAll(() => lab?.close());

  it('switches routing and store through the admin API, without restarting anything', async () => {
    const pids = lab.instances.map((i) => i.child.pid);

    await lab.admin.setMode('redis');
    const redisUser = await loggedInClient(lab);
    for (const r of await profiles(redisUser.client, 6)) expect(r.status).toBe(200);

    // A store switch is real: sessions written in Redis are not in the memory logbooks.
    await lab.admin.setStore('memory');
    const missing = await redisUser.client.profile();
    expect(missing.status).toBe(401);

    await lab.admin.setRouting('cookie');
    const sticky = await loggedInClient(lab);
    for (const r of await profiles(sticky.client, 6)) expect(r.status).toBe(200);

    const state = await lab.admin.state();
    expect(state).toMatchObject({ routing: 'cookie', store: 'memory', mode: 'sticky' });
    expect(state.instances.map((i) => [i.up, i.store])).toEqual([
      [true, 'memory'],
      [true, 'memory'],
      [true, 'memory'],
    ]);
    expect(lab.instances.map((i) => i.child.pid)).toEqual(pids);
  });

  it('rejects unknown modes with a clear error, and the public port has no admin power', async () => {
    const bad = await fetch(`${lab.adminUrl}/api/mode`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ mode: 'magic' }),
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toMatch(/must be equal to one of the allowed values/);

    const client = new Client(lab.url);
    expect((await client.request('PUT', '/api/mode', { mode: 'redis' })).status).toBe(404);
    expect((await client.request('PUT', '/_control/store', { store: 'redis' })).status).toBe(404);
    expect((await client.request('POST', '/_control/crash', {})).status).toBe(404);
  });
});
