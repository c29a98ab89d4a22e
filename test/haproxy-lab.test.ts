import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Lab } from '../scripts/lab.js';
import { parseSetCookie } from './helpers/hardening.js';
import { Client } from './helpers/http.js';
import { startTestLab, waitFor } from './helpers/lab.js';

describe('behind HAProxy, sticky mode: the affinity cookie', () => {
  let lab: Lab;
  beforeAll(async () => (lab = await startTestLab({ mode: 'sticky', instances: 3, balancer: 'haproxy', restartCrashed: false })));
  afterAll(() => lab?.close());

  it('is named and flagged as the Node balancer sets it', async () => {
    const client = new Client(lab.url);
    const login = await client.login();
    const pin = login.headers.getSetCookie().map(parseSetCookie).find((c) => c.name === 'coatcheck_lb')!;
    expect(pin.value).toBe(login.servedBy);
    expect(pin.attributes).toMatchObject({ path: '/', httponly: true, samesite: 'Lax' });
    expect(login.headers.get('x-served-by')).toBe(login.json.createdBy);
  });

  it('re-pins the user to a live instance when its instance dies (the memory logbook is lost: 401 once)', async () => {
    const client = new Client(lab.url);
    const login = await client.login();
    const first = login.servedBy!;
    await lab.stopInstance(first);
    const next = await client.profile();
    // Refused by the dead instance, retried on a live one: an answer, not an error.
    expect(next.status).toBe(401);
    expect(next.servedBy).not.toBe(first);
    expect(client.jar.get('coatcheck_lb')).toBe(next.servedBy);
    const relogin = await client.login();
    expect(relogin.servedBy).toBe(next.servedBy);
    for (let i = 0; i < 4; i++) expect((await client.profile()).servedBy).toBe(next.servedBy);
  });
});

/** GET on a fresh connection each time: a reload must hand over the listening socket without refusing one. */
function getFresh(url: string, cookie: string): Promise<{ status: number; servedBy: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false, headers: { cookie } }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, servedBy: String(res.headers['x-served-by'] ?? '') }));
      })
      .on('error', reject);
  });
}

describe('behind HAProxy, redis mode: reloads under traffic', () => {
  let lab: Lab;
  beforeAll(async () => (lab = await startTestLab({ mode: 'redis', instances: 2, balancer: 'haproxy' })));
  afterAll(() => lab?.close());

  it('adds an instance, changes the routing twice and removes the instance without losing a request', async () => {
    const client = new Client(lab.url);
    expect((await client.login()).status).toBe(200);
    const cookie = client.cookieHeader()!;
    const answers: { status: number; servedBy: string }[] = [];
    const errors: string[] = [];
    let running = true;
    const worker = async () => {
      while (running) {
        try {
          answers.push(await getFresh(`${lab.url}/profile`, cookie));
        } catch (err) {
          errors.push((err as Error).message);
        }
      }
    };
    const workers = Array.from({ length: 4 }, worker);
    const lastServers = (n: number) => new Set(answers.slice(-n).map((a) => a.servedBy));
    try {
      // Each change is seen in the traffic itself: that is when the new worker serves.
      const added = await lab.addInstance();
      await waitFor(() => answers.some((a) => a.servedBy === added.id), `${added.id} to serve`, 20_000);
      await lab.admin.setRouting('consistent-hash');
      await waitFor(() => answers.length > 20 && lastServers(12).size === 1, 'one client address to stay on one instance', 20_000);
      await lab.admin.setRouting('round-robin');
      await waitFor(() => lastServers(12).size === 3, 'round robin over three instances again', 20_000);
      await lab.removeInstance(added.id);
      const mark = answers.length;
      await waitFor(() => answers.length > mark + 30 && !answers.slice(-20).some((a) => a.servedBy === added.id), `${added.id} to be gone`, 20_000);
    } finally {
      running = false;
      await Promise.all(workers);
    }
    expect(errors).toEqual([]);
    expect(answers.filter((a) => a.status !== 200)).toEqual([]);
  });
});

describe('without haproxy on PATH', () => {
  it('the lab does not start, and says which package to install', async () => {
    await expect(startTestLab({ instances: 1, balancer: 'haproxy', balancerEnv: { PATH: '/nonexistent' } })).rejects.toThrow(/Debian's "haproxy" package/);
  });
});
