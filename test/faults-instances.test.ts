import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Lab } from '../scripts/lab.js';
import { Client } from './helpers/http.js';
import { balancerState } from './helpers/hardening.js';
import { startTestLab, waitFor } from './helpers/lab.js';

interface Outcome {
  status: number;
  method: string;
  ms: number;
}

/**
 * Logged-in users hammering the balancer until stop() (bounded by `maxMs` anyway).
 * A network error is recorded as status 0: it counts as a failure the user saw.
 */
function load(clients: Client[], options: { writes: boolean; maxMs: number }) {
  const outcomes: Outcome[] = [];
  let running = true;
  const deadline = Date.now() + options.maxMs;
  const loops = clients.map(async (client, n) => {
    for (let i = 0; running && Date.now() < deadline; i++) {
      const write = options.writes && (i + n) % 2 === 0;
      const started = Date.now();
      const response = await (write ? client.request('POST', '/cart', { item: `item-${i}` }) : client.profile()).catch(() => ({ status: 0 }));
      outcomes.push({ status: response.status, method: write ? 'POST' : 'GET', ms: Date.now() - started });
    }
  });
  return {
    outcomes,
    /** Resolves once `count` more answers have come back: load measured in requests, not in time. */
    more(count: number) {
      const target = outcomes.length + count;
      return waitFor(() => outcomes.length >= target, `${count} more answers under load`, 20_000);
    },
    async stop() {
      running = false;
      await Promise.all(loops);
      return outcomes;
    },
  };
}

async function loggedIn(url: string, count: number): Promise<Client[]> {
  const clients = Array.from({ length: count }, () => new Client(url));
  for (const c of clients) expect((await c.login()).status).toBe(200);
  return clients;
}

// The proxy timeout is generous (2 s) so that a merely busy machine never looks like a frozen instance.
describe('instance faults in redis mode (3 instances, proxy timeout 2 s, header timeout 1 s)', () => {
  let lab: Lab;
  const lines: string[] = [];
  beforeAll(async () => {
    lab = await startTestLab({
      mode: 'redis',
      instances: 3,
      instanceEnv: { LOG_LEVEL: 'info' },
      balancerEnv: { PROXY_TIMEOUT_MS: '2000', HEADERS_TIMEOUT_MS: '1000', REQUEST_TIMEOUT_MS: '3000' },
      onLine: (name, line) => lines.push(`[${name}] ${line}`),
    });
  });
  afterAll(() => lab?.close());

  const allUp = async () => (await balancerState(lab)).instances.every((i) => i.up);

  it('a slowloris client (headers trickled forever) is cut off with 408, and other users are served meanwhile', async () => {
    const user = (await loggedIn(lab.url, 1))[0]!;
    const { port } = new URL(lab.url);
    const started = Date.now();
    const slow = Array.from({ length: 60 }, () => {
      return new Promise<{ ms: number; text: string }>((resolve) => {
        const socket = net.connect(Number(port), '127.0.0.1', () => socket.write('GET /profile HTTP/1.1\r\nHost: x\r\n'));
        let text = '';
        const drip = setInterval(() => socket.writable && socket.write(`X-Drip: ${Date.now()}\r\n`), 200);
        socket.on('data', (d) => (text += d.toString()));
        socket.on('error', () => {});
        socket.on('close', () => {
          clearInterval(drip);
          resolve({ ms: Date.now() - started, text });
        });
      });
    });
    let open = slow.length;
    for (const s of slow) void s.then(() => open--);
    // Served all along the attack, until the balancer has cut every slow socket (bounded).
    const served: number[] = [];
    while (open > 0 && Date.now() - started < 5000) served.push((await user.profile()).status);
    const cut = await Promise.all(slow);
    expect(served.length).toBeGreaterThanOrEqual(2);
    expect(new Set(served)).toEqual(new Set([200]));
    for (const s of cut) {
      // 408 from the headers timeout (on a very busy machine we once saw a 400 here instead).
      expect(s.text, s.text).toMatch(/^HTTP\/1\.1 (408|400)/);
      expect(s.ms).toBeLessThan(4000);
    }
  });

  it('a frozen instance (SIGSTOP): 504 after the proxy timeout instead of hanging, then routed around', async () => {
    const user = (await loggedIn(lab.url, 1))[0]!;
    const frozen = lab.instances[2]!;
    frozen.child.kill('SIGSTOP');
    const seen: { status: number; ms: number; error: unknown }[] = [];
    try {
      const started = Date.now();
      while (Date.now() - started < 6000) {
        const t = Date.now();
        const response = await user.profile();
        seen.push({ status: response.status, ms: Date.now() - t, error: response.json.error });
      }
    } finally {
      frozen.child.kill('SIGCONT');
    }
    expect(seen.filter((s) => s.status === 504).length).toBeGreaterThanOrEqual(1);
    expect(seen.find((s) => s.status === 504)!.error).toBe('instance_timeout');
    expect(new Set(seen.map((s) => s.status))).toEqual(new Set([200, 504]));
    // Never hangs: the slowest answer is the timeout plus scheduling slack on a busy machine.
    expect(Math.max(...seen.map((s) => s.ms))).toBeLessThan(4000);
    // Once the health check has marked it down, every answer is a 200.
    expect(seen.slice(-5).map((s) => s.status)).toEqual([200, 200, 200, 200, 200]);
    await waitFor(allUp, 'the thawed instance to be back in the pool');
  });

  it('kill -9 an instance under read load: no 5xx and no network error reaches a user, and retries stay bounded', async () => {
    const users = await loggedIn(lab.url, 6);
    const before = (await balancerState(lab)).stats;
    const run = load(users, { writes: false, maxMs: 30_000 });
    await run.more(20);
    const victim = lab.instances[1]!;
    const restarted = lab.waitForRestart(victim.id);
    await lab.killInstance(victim.id, 'SIGKILL');
    // Load while the instance is dead (the lab restarts it after 200 ms + start-up), and after.
    await Promise.all([run.more(20), restarted]);
    // Enough answers after the restart that "retries stay bounded" below compares with a real load.
    await run.more(200);
    const outcomes = await run.stop();
    const after = (await balancerState(lab)).stats;

    expect(outcomes.length).toBeGreaterThan(50);
    expect(outcomes.filter((o) => o.status !== 200)).toEqual([]);
    // The passive mark: once refused, the dead instance gets no more requests. Retries are the
    // requests in flight at the time plus those that picked one of its dying kept-alive sockets
    // (at most one each per user), not one in three for the whole outage.
    const retries = after.retries - before.retries;
    const balancerLines = lines.filter((l) => l.startsWith('[balancer]') && l.includes('retrying'));
    expect(retries, balancerLines.join('\n')).toBeLessThanOrEqual(2 * users.length);
    expect(retries).toBeLessThan(outcomes.length / 10);
    expect(after.failed - before.failed).toBe(0);
    await waitFor(allUp, 'the restarted instance to be back in the pool');
  });

  it('SIGTERM an instance under mixed read/write load: it drains, nothing fails, it exits 0', async () => {
    const users = await loggedIn(lab.url, 6);
    const run = load(users, { writes: true, maxMs: 30_000 });
    await run.more(40);
    const victim = lab.instances[0]!;
    const restarted = lab.waitForRestart(victim.id);
    const exited = new Promise<number | null>((resolve) => victim.child.once('exit', (code) => resolve(code)));
    victim.child.kill('SIGTERM');
    const code = await exited;
    await restarted;
    await run.more(20);
    const outcomes = await run.stop();

    expect(code).toBe(0);
    expect(outcomes.filter((o) => o.method === 'POST').length).toBeGreaterThan(20);
    expect(outcomes.filter((o) => o.status !== 200)).toEqual([]);
    // It closed because the balancer had seen /health say "draining", not because a timer ran out.
    expect(lines.some((l) => l.startsWith(`[${victim.id}]`) && l.includes('"drained":"seen"'))).toBe(true);
    await waitFor(allUp, 'the restarted instance to be back in the pool');
  });

  it('every instance down: 503 with Retry-After, as JSON, for reads and writes', async () => {
    await Promise.all(lab.instances.map((i) => lab.stopInstance(i.id)));
    for (const [method, path, body] of [
      ['GET', '/profile', undefined],
      ['POST', '/login', { username: 'testuser', password: 'testpass' }],
    ] as const) {
      const response = await new Client(lab.url).request(method, path, body);
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(response.json.error).toBe('no_instance_available');
    }
    expect(lab.balancer.exitCode).toBeNull();
  });
});
