import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { controlClient } from '../proxy/clients/control-client.js';
import type { Lab } from '../scripts/lab.js';
import { DEMO_CREDENTIALS } from '../scripts/simulate/accounts.js';
import { Client } from './helpers/http.js';
import { sleep } from './helpers/hardening.js';
import { waitFor, startTestLab } from './helpers/lab.js';

const SOAK_MS = 12_000;
const WARM_UP_MS = 3_000;
const USERS = 8;


// Bounded: loopback only, a fixed duration, a handful of users. What it checks is the shape
// (no failures, no growth), not the speed: speed belongs to npm run bench.
describe(`soak: ${SOAK_MS / 1000} s of mixed traffic in redis mode`, () => {
  let lab: Lab;
  // Our own control token (balancer and instances alike), to read each instance's heap.
  const controlToken = randomBytes(24).toString('hex');
  beforeAll(async () => {
    lab = await startTestLab({
      mode: 'redis',
      instances: 3,
      instanceEnv: { CONTROL_TOKEN: controlToken },
      balancerEnv: { CONTROL_TOKEN: controlToken },
    });
  });
  afterAll(() => lab?.close());

  it('zero non-2xx for logged-in users, and every process’s memory flat after warm-up', async () => {
    // Heap in use, not RSS: an instance's RSS jumps with every concurrent scrypt login (16 MiB of
    // work memory each), and the balancer's grows by tens of MiB while V8 widens its young
    // generation for the traffic, then stays there. A leak shows in the heap.
    const control = controlClient(controlToken);
    const heapOf = (url: string) => async () => (await control.health(url)).heapUsedMiB ?? NaN;
    const processes = [
      { name: 'balancer (heap)', read: async () => (await lab.admin.state()).heapUsedMiB },
      ...lab.instances.map((i) => ({ name: `${i.id} (heap)`, read: heapOf(i.url) })),
    ];
    const samples = new Map<string, number[]>(processes.map((p) => [p.name, []]));
    const counts = { requests: 0, logins: 0, failures: [] as string[] };
    const started = Date.now();
    let running = true;

    const sampler = (async () => {
      await sleep(WARM_UP_MS);
      while (running) {
        for (const p of processes) samples.get(p.name)!.push(await p.read());
        await sleep(1000);
      }
    })();

    const users = Array.from({ length: USERS }, async (_, n) => {
      const client = new Client(lab.url);
      // Spread over the demo accounts: the login throttle lets only LOGIN_MAX_FAILURES logins for one
      // account from one address be checked at the same moment, and all of these come from 127.0.0.1.
      const { username, password } = DEMO_CREDENTIALS[n % DEMO_CREDENTIALS.length]!;
      const login = await client.login(username, password);
      if (login.status !== 200) counts.failures.push(`login ${login.status}`);
      for (let i = 0; Date.now() - started < SOAK_MS; i++) {
        const roll = (i * 7 + n) % 50;
        // 70 % reads, 28 % cart writes, 2 % log out and in again (new session, old one destroyed).
        let response;
        if (roll < 35) response = await client.profile();
        else if (roll < 49) response = await client.request('POST', '/cart', { item: `item-${i}` });
        else {
          response = await client.logout();
          if (response.status === 200) {
            response = await client.login(username, password);
            counts.logins++;
          }
        }
        counts.requests++;
        if (response.status < 200 || response.status >= 300) counts.failures.push(`${response.status} ${String(response.json.error)}`);
      }
    });
    await Promise.all(users);
    running = false;
    await sampler;

    const growth = processes.map((p) => {
      const series = samples.get(p.name)!;
      // The lowest of three samples: the heap just after a collection, what is really alive. A
      // median still counts garbage not yet collected, which grows with the traffic, not with a leak.
      return { name: p.name, first: Math.min(...series.slice(0, 3)), last: Math.min(...series.slice(-3)), samples: series.length };
    });
    console.log(
      `soak: ${counts.requests} requests (${counts.logins} re-logins) in ${SOAK_MS / 1000} s from ${USERS} users; MiB after warm-up, first -> last:`,
      growth.map((g) => `${g.name} ${g.first.toFixed(1)} -> ${g.last.toFixed(1)}`).join(', '),
    );

    expect(counts.failures).toEqual([]);
    expect(counts.requests).toBeGreaterThan(200);
    for (const g of growth) {
      expect(g.samples).toBeGreaterThanOrEqual(6);
      // Flat, with room for GC timing: without a full collection, old-space garbage moved the
      // balancer's heap by up to 28 MiB over 12 s (13,000 requests). Keeping a session or a request
      // per request would be several KiB each, 50+ MiB here. Smaller leaks: the chaos run's bound.
      expect(g.last - g.first, `${g.name} grew from ${g.first} to ${g.last} MiB`).toBeLessThan(48);
    }
  });
});

describe('memory store: expired sessions are swept even if nobody asks for them again', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await startTestLab({ mode: 'memory', instances: 1, instanceEnv: { SESSION_TTL_SECONDS: '2', SWEEP_INTERVAL_MS: '200' } });
  });
  afterAll(() => lab?.close());

  it('the logbook empties itself after the TTL', async () => {
    const sessions = async () => ((await (await fetch(`${lab.instances[0]!.url}/health`)).json()) as { sessions: number }).sessions;
    for (let i = 0; i < 5; i++) expect((await new Client(lab.url).login()).status).toBe(200);
    // Some may already be gone on a slow machine (the TTL is 2 s); the last one is surely there.
    expect(await sessions()).toBeGreaterThan(0);
    await waitFor(async () => (await sessions()) === 0, 'the sweeper to drop the expired sessions', 8000);
  });
});
