import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Lab } from '../scripts/lab.js';
import { startRedisServer, type RedisServer } from '../scripts/lib/redis-server.js';
import { Client } from './helpers/http.js';
import { startTestLab } from './helpers/lab.js';

// Stateless mode over real processes: the sealed card under round robin, and the price of having
// no logbook (a copied card outlives logout) with and without the revocation list in Redis.

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));

/** A second browser holding a copy of the first one's cookies: the stolen card. */
function copyOf(client: Client): Client {
  const copy = new Client(client.baseUrl);
  for (const [name, value] of client.jar) copy.jar.set(name, value);
  return copy;
}

/** The dashboard's "replay a copied cookie" control, through the admin API. */
async function replay(lab: Lab): Promise<{ accepted: boolean; steps: { step: string; instance: string; status: number; reason?: string }[]; message: string }> {
  const response = await fetch(`${lab.adminUrl}/api/replay`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'testuser', password: 'testpass' }),
  });
  expect(response.status).toBe(200);
  return (await response.json()) as Awaited<ReturnType<typeof replay>>;
}

describe('stateless mode, round robin over 3 instances, no revocation list', () => {
  let lab: Lab;
  beforeAll(async () => (lab = await startTestLab({ mode: 'stateless', instances: 3 })));
  afterAll(() => lab?.close());

  it('passes the lesson flow with every request on another instance: login, profile, cart, logout', async () => {
    const client = new Client(lab.url);
    const login = await client.login();
    expect(login.status).toBe(200);
    const served = [login.servedBy];
    for (let i = 0; i < 6; i++) {
      const profile = await client.profile();
      expect(profile.status).toBe(200);
      expect(profile.json.createdBy).toBe(login.json.createdBy);
      served.push(profile.servedBy);
    }
    // Round robin: the card was read by all three instances, none of which stores it.
    expect(new Set(served).size).toBe(3);
    const cart = await client.request('POST', '/cart', { item: 'tea' });
    expect(cart.status).toBe(200);
    expect((await client.profile()).json.cart).toEqual(['tea']);
    expect((await client.logout()).json.loggedOut).toBe(true);
    const after = await client.profile();
    expect(after.status).toBe(401);
    expect(after.json.reason).toBe('no_cookie');
  });

  it("passes the lesson's own curl client (docs/clients/session-walk.sh)", async () => {
    const { stdout } = await run('sh', ['docs/clients/session-walk.sh', 'ravi', 'gold-member', '6'], {
      cwd: root,
      env: { ...process.env, COATCHECK_URL: lab.url },
      timeout: 30_000,
    });
    expect(stdout).toContain('login as ravi: 200');
    expect(stdout).toContain('logged in on 6 of 6 visits');
    expect(stdout).toContain('"loggedOut":true');
  });

  it('the price: a card copied before logout is still accepted after it, on every instance', async () => {
    const client = new Client(lab.url);
    await client.login();
    const stolen = copyOf(client);
    await client.logout();
    expect((await client.profile()).status).toBe(401);
    const instances = new Set<string | null>();
    for (let i = 0; i < 3; i++) {
      const replay = await stolen.profile();
      expect(replay.status).toBe(200);
      instances.add(replay.servedBy);
    }
    expect(instances.size).toBe(3);
  });

  it('the dashboard replay: logged in, out and replayed, each on the next instance, the copy accepted', async () => {
    const answer = await replay(lab);
    expect(answer.accepted).toBe(true);
    expect(answer.steps.map((s) => s.status)).toEqual([200, 200, 200]);
    expect(answer.message).toContain('ACCEPTED');
  });

  it('"log out everywhere" says it cannot be done (501), and the card still works', async () => {
    const client = new Client(lab.url);
    await client.login();
    const everywhere = await client.request('POST', '/logout/everywhere');
    expect(everywhere.status).toBe(501);
    expect(everywhere.json.error).toBe('not_possible_stateless');
    expect(everywhere.json.message).toContain('REVOCATION=redis');
    expect((await client.profile()).status).toBe(200);
  });

  it('sets the cookie with the same flags as the wristband', async () => {
    const response = await fetch(`${lab.url}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'testuser', password: 'testpass' }),
    });
    const lines = response.headers.getSetCookie();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^sid=[^;]+; Max-Age=\d+; Path=\/; HttpOnly; SameSite=Lax$/);
    expect(Number(response.headers.get('x-session-cookie-bytes'))).toBeGreaterThan(100);
  });
});

describe('stateless mode with a revocation list in Redis', () => {
  let lab: Lab;
  beforeAll(async () => (lab = await startTestLab({ mode: 'stateless', revocation: 'redis', instances: 3 })));
  afterAll(() => lab?.close());

  it('refuses a card copied before logout, on every instance, with reason "revoked"', async () => {
    const client = new Client(lab.url);
    await client.login();
    const stolen = copyOf(client);
    expect((await stolen.profile()).status).toBe(200);
    await client.logout();
    for (let i = 0; i < 3; i++) {
      const replay = await stolen.profile();
      expect(replay.status).toBe(401);
      expect(replay.json.reason).toBe('revoked');
    }
  });

  it('the lab state says the revocation list is on', async () => {
    expect((await lab.admin.state()).revocation).toBe('redis');
  });

  it('the dashboard replay: the copy refused', async () => {
    const answer = await replay(lab);
    expect(answer.accepted).toBe(false);
    expect(answer.steps[2]).toMatchObject({ step: 'replay', status: 401, reason: 'revoked' });
  });

  it('"log out everywhere" ends every card of the user, and a new login works', async () => {
    const browsers = [new Client(lab.url), new Client(lab.url), new Client(lab.url)];
    for (const browser of browsers) expect((await browser.login()).status).toBe(200);
    const other = new Client(lab.url);
    await other.login('alice', 'wonderland');
    const everywhere = await browsers[0]!.request('POST', '/logout/everywhere');
    expect(everywhere.status).toBe(200);
    expect(everywhere.json.scope).toBe('everywhere');
    for (const browser of browsers.slice(1)) {
      const refused = await browser.profile();
      expect(refused.status).toBe(401);
      expect(refused.json.reason).toBe('revoked');
    }
    // Another user's card is not touched.
    expect((await other.profile()).status).toBe(200);
    const again = browsers[1]!;
    expect((await again.login()).status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await again.profile()).status).toBe(200);
  });
});

describe('stateless mode with a revocation list, Redis down', () => {
  let redis: RedisServer;
  let lab: Lab;
  beforeAll(async () => {
    redis = await startRedisServer();
    lab = await startTestLab({ mode: 'stateless', revocation: 'redis', instances: 2, redisUrl: redis.url });
  });
  afterAll(async () => {
    await lab?.close();
    await redis?.stop();
  });

  it('answers 503 with Retry-After, never an open door, and accepts the card again once Redis is back', async () => {
    const client = new Client(lab.url);
    await client.login();
    expect((await client.profile()).status).toBe(200);
    await redis.stop({ keepData: true });
    for (let i = 0; i < 2; i++) {
      const down = await client.profile();
      expect(down.status).toBe(503);
      expect(down.json.error).toBe('store_unavailable');
      expect(down.headers.get('retry-after')).toBe('1');
    }
    redis = await redis.restart();
    let back = await client.profile();
    const deadline = Date.now() + 15_000;
    while (back.status === 503 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      back = await client.profile();
    }
    expect(back.status).toBe(200);
  });
});

describe('switching to stateless at runtime, through the admin API', () => {
  let lab: Lab;
  beforeAll(async () => (lab = await startTestLab({ mode: 'memory', instances: 2 })));
  afterAll(() => lab?.close());

  it('turns the memory-mode bug into a working round robin, and the state names the mode', async () => {
    const state = await lab.admin.setMode('stateless');
    expect(state.mode).toBe('stateless');
    expect(state.revocation).toBe('none');
    expect(state.instances.map((i) => i.store)).toEqual(['sealed', 'sealed']);
    const client = new Client(lab.url);
    expect((await client.login()).status).toBe(200);
    const served = new Set<string | null>();
    for (let i = 0; i < 4; i++) {
      const profile = await client.profile();
      expect(profile.status).toBe(200);
      served.add(profile.servedBy);
    }
    expect(served.size).toBe(2);
  });
});
