import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Lab } from '../scripts/lab.js';
import { Client } from './helpers/http.js';
import { startTestLab } from './helpers/lab.js';

// The lesson, through the balancer, in every mode: log in, look, log out, look again.
describe.each(['memory', 'sticky', 'redis'] as const)('lesson flow in %s mode', (mode) => {
  let lab: Lab;
  beforeAll(async () => {
    // One instance in memory mode: the flow itself must work before the bug can be shown.
    lab = await startTestLab({ mode, instances: mode === 'memory' ? 1 : 3 });
  });
  afterAll(() => lab?.close());

  it('logs in, shows the profile, logs out, and the old cookie is dead', async () => {
    const client = new Client(lab.url);
    expect((await client.profile()).status).toBe(401);

    const login = await client.login('testuser', 'testpass');
    expect(login.status).toBe(200);
    expect(login.json.user).toEqual({ username: 'testuser', displayName: 'Test User' });
    expect(login.headers.getSetCookie().join()).toMatch(/sid=.*HttpOnly/i);

    for (let i = 0; i < 4; i++) {
      const profile = await client.profile();
      expect(profile.status).toBe(200);
      expect(profile.json).toMatchObject({ username: 'testuser', createdBy: login.json.createdBy });
      expect(profile.servedBy).toMatch(/^app-\d$/);
    }

    const oldCookie = client.jar.get('sid')!;
    const logout = await client.logout();
    expect(logout.status).toBe(200);
    expect(client.jar.has('sid')).toBe(false);
    expect((await client.profile()).status).toBe(401);

    // A copy of the old cookie kept by someone else is dead too: the session was destroyed server-side.
    const thief = new Client(lab.url);
    thief.jar.set('sid', oldCookie);
    const stolen = await thief.profile();
    expect(stolen.status).toBe(401);
    expect(stolen.json.reason).toBe('unknown_session');
  });

  it('answers 200 to logout when not logged in', async () => {
    const client = new Client(lab.url);
    const logout = await client.logout();
    expect(logout.status).toBe(200);
    expect(logout.json.loggedOut).toBe(false);
  });

  it('refuses a wrong password with the same answer as an unknown user', async () => {
    const client = new Client(lab.url);
    const wrongPassword = await client.login('testuser', 'nope');
    const unknownUser = await client.login('nobody', 'nope');
    expect(wrongPassword.status).toBe(401);
    expect(unknownUser.status).toBe(401);
    expect({ ...wrongPassword.json, servedBy: null }).toEqual({ ...unknownUser.json, servedBy: null });
    expect(client.jar.has('sid')).toBe(false);
  });
});
