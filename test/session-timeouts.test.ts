import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Lab } from '../scripts/lab.js';
import { Client } from './helpers/http.js';
import { startTestLab } from './helpers/lab.js';

// How long a session lives: the idle and absolute timeouts, and "log out everywhere" for sessions
// kept alive by use. Apart from the cookie tests: these wait on the clock, and run beside them.
describe('idle and absolute timeouts (short values)', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await startTestLab({
      mode: 'redis',
      instances: 2,
      instanceEnv: { SESSION_TTL_SECONDS: '2', SESSION_ABSOLUTE_SECONDS: '4' },
    });
  });
  afterAll(() => lab?.close());

  it('an idle session is forgotten after SESSION_TTL_SECONDS, an active one is kept alive past it', async () => {
    const idle = new Client(lab.url);
    const active = new Client(lab.url);
    await idle.login();
    await active.login();
    const started = Date.now();
    // Active: a visit every 400 ms. Idle: nothing until the TTL is over.
    while (Date.now() - started < 2800) {
      expect((await active.profile()).status).toBe(200);
      await new Promise((r) => setTimeout(r, 400));
    }
    const forgotten = await idle.profile();
    expect(forgotten.status).toBe(401);
    expect(forgotten.json.reason).toBe('unknown_session');
    expect((await active.profile()).status).toBe(200);
  });

  it('an active session is refused after SESSION_ABSOLUTE_SECONDS, with reason "expired"', async () => {
    const client = new Client(lab.url);
    // Before the login: the limit counts from the login, and a slow scrypt must not shorten it here.
    const started = Date.now();
    await client.login();
    let last = await client.profile();
    while (last.status === 200 && Date.now() - started < 15_000) {
      await new Promise((r) => setTimeout(r, 300));
      last = await client.profile();
    }
    expect(last.status).toBe(401);
    expect(last.json.reason).toBe('expired');
    // Not before the limit: the absolute timeout is 4 s from login.
    expect(Date.now() - started).toBeGreaterThanOrEqual(4000);
  });
});

// A session kept alive by use outlives its login-time TTL: "log out everywhere" must still find it.
describe('log out everywhere reaches sessions kept alive past their login-time TTL (SESSION_TTL_SECONDS=8)', () => {
  const labs: Partial<Record<'redis' | 'memory', Lab>> = {};
  beforeAll(async () => {
    // Both at once: the scenario is 12 s of wall-clock time, so the two modes share it.
    [labs.redis, labs.memory] = await Promise.all([
      startTestLab({ mode: 'redis', instances: 2, instanceEnv: { SESSION_TTL_SECONDS: '8' } }),
      // One instance: in memory mode "everywhere" is one logbook, and both sessions must be in it.
      startTestLab({ mode: 'memory', instances: 1, instanceEnv: { SESSION_TTL_SECONDS: '8' } }),
    ]);
  });
  afterAll(() => Promise.all([labs.redis?.close(), labs.memory?.close()]));

  for (const mode of ['redis', 'memory'] as const) {
    it.concurrent(`${mode}: two sessions used every 2 s for 12 s, then one logs out everywhere: both end`, async ({ expect }) => {
      const lab = labs[mode]!;
      const [laptop, phone] = [new Client(lab.url), new Client(lab.url)];
      for (const c of [laptop, phone]) expect((await c.login('bob', 'builder')).status).toBe(200);
      const started = Date.now();
      // The scenario's own clock: activity every 2 s is what keeps the sessions alive.
      while (Date.now() - started < 12_000) {
        for (const c of [laptop, phone]) expect((await c.profile()).status).toBe(200);
        await new Promise((r) => setTimeout(r, 2000));
      }
      const everywhere = await laptop.request('POST', '/logout/everywhere');
      expect(everywhere.status).toBe(200);
      expect(everywhere.json.sessionsEnded).toBe(2);
      const after = await phone.profile();
      expect(after.status).toBe(401);
      expect(after.json.reason).toBe('unknown_session');
    });
  }
});
