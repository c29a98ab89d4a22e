import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Lab } from '../scripts/lab.js';
import { Client } from './helpers/http.js';
import { httpsRequest, parseSetCookie } from './helpers/hardening.js';
import { startTestLab } from './helpers/lab.js';

// The wristband itself: how the cookie is made, rotated and destroyed, through the balancer.
describe('session cookie and lifecycle (redis mode, 3 instances, HTTP and HTTPS)', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await startTestLab({ mode: 'redis', instances: 3, balancerEnv: { HTTPS_PORT: '0' } });
  });
  afterAll(() => lab?.close());

  it('over HTTP: sid is HttpOnly, SameSite=Lax, Path=/, no Domain, no Secure, signed, with an expiry', async () => {
    const client = new Client(lab.url);
    const login = await client.login();
    expect(login.status).toBe(200);
    const cookie = parseSetCookie(login.headers.getSetCookie().find((c) => c.startsWith('sid='))!);
    expect(cookie.attributes).toMatchObject({ httponly: true, samesite: 'Lax', path: '/' });
    expect(cookie.attributes.domain).toBeUndefined();
    expect(cookie.attributes.secure).toBeUndefined();
    expect(cookie.attributes.expires).toBeDefined();
    // <id>.<HMAC signature>: the value is signed, not just an id.
    expect(decodeURIComponent(cookie.value)).toMatch(/^[\w-]{20,}\.[\w+/-]{20,}$/);
  });

  it('a forged X-Forwarded-Proto over HTTP does not make the cookie __Host-/Secure (the balancer overwrites it)', async () => {
    const client = new Client(lab.url);
    const login = await client.request('POST', '/login', { username: 'testuser', password: 'testpass' }, { 'x-forwarded-proto': 'https' });
    expect(login.status).toBe(200);
    const lines = login.headers.getSetCookie();
    expect(lines.some((c) => c.startsWith('sid='))).toBe(true);
    expect(lines.some((c) => c.startsWith('__Host-'))).toBe(false);
    expect(lines.join()).not.toMatch(/secure/i);
  });

  it('over HTTPS: the cookie is __Host-sid with Secure, works on every instance, and logout clears it with Secure', async () => {
    const login = await httpsRequest(`${lab.httpsUrl}/login`, { method: 'POST', body: { username: 'ravi', password: 'gold-member' } });
    expect(login.status).toBe(200);
    const line = login.setCookies.find((c) => c.startsWith('__Host-sid='));
    expect(line).toBeDefined();
    const cookie = parseSetCookie(line!);
    expect(cookie.attributes).toMatchObject({ secure: true, httponly: true, path: '/', samesite: 'Lax' });
    expect(cookie.attributes.domain).toBeUndefined();
    expect(login.setCookies.some((c) => c.startsWith('sid='))).toBe(false);

    const jar = `__Host-sid=${cookie.value}`;
    const servedBy = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const profile = await httpsRequest(`${lab.httpsUrl}/profile`, { headers: { cookie: jar } });
      expect(profile.status).toBe(200);
      expect(profile.json.username).toBe('ravi');
      expect(profile.headers['cache-control']).toBe('no-store');
      servedBy.add(String(profile.headers['x-served-by']));
    }
    expect(servedBy.size).toBe(3);

    // Over HTTPS a plain "sid" is ignored: anyone on plain HTTP could have planted it (cookie tossing).
    const tossed = await httpsRequest(`${lab.httpsUrl}/profile`, { headers: { cookie: `sid=${cookie.value}` } });
    expect(tossed.status).toBe(401);
    expect(tossed.json.reason).toBe('no_cookie');

    const logout = await httpsRequest(`${lab.httpsUrl}/logout`, { method: 'POST', headers: { cookie: jar } });
    expect(logout.status).toBe(200);
    const cleared = parseSetCookie(logout.setCookies.find((c) => c.startsWith('__Host-sid='))!);
    expect(cleared.value).toBe('');
    // A browser ignores a __Host- Set-Cookie without Secure: the clearing must carry it too.
    expect(cleared.attributes.secure).toBe(true);
    expect((await httpsRequest(`${lab.httpsUrl}/profile`, { headers: { cookie: jar } })).status).toBe(401);
  });

  it('rotates the session ID at login: a planted (fixated) ID never becomes the victim’s session', async () => {
    // The attacker logs in as alice and plants that wristband in the victim's browser.
    const attacker = new Client(lab.url);
    await attacker.login('alice', 'wonderland');
    const planted = attacker.jar.get('sid')!;

    const victim = new Client(lab.url);
    victim.jar.set('sid', planted);
    const login = await victim.login('testuser', 'testpass');
    expect(login.status).toBe(200);
    expect(victim.jar.get('sid')).not.toBe(planted);
    expect((await victim.profile()).json.username).toBe('testuser');

    // The planted ID was destroyed at login: it is not the victim's session, nor alice's any more.
    const replay = await attacker.profile();
    expect(replay.status).toBe(401);
    expect(replay.json.reason).toBe('unknown_session');
  });

  it('logout destroys the session server-side: a copy of the old cookie is refused by every instance', async () => {
    const client = new Client(lab.url);
    await client.login('bob', 'builder');
    const copy = client.jar.get('sid')!;
    await client.logout();
    const thief = new Client(lab.url);
    thief.jar.set('sid', copy);
    const servedBy = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const profile = await thief.profile();
      expect(profile.status).toBe(401);
      expect(profile.headers.get('cache-control')).toBe('no-store');
      servedBy.add(profile.servedBy!);
    }
    expect(servedBy.size).toBe(3);
  });

  it('log out everywhere (shared Redis): ends every session of that user on every instance, and only theirs', async () => {
    const laptops = [new Client(lab.url), new Client(lab.url), new Client(lab.url)];
    for (const c of laptops) expect((await c.login('alice', 'wonderland')).status).toBe(200);
    const other = new Client(lab.url);
    await other.login('bob', 'builder');

    const everywhere = await laptops[0]!.request('POST', '/logout/everywhere');
    expect(everywhere.status).toBe(200);
    expect(everywhere.json).toMatchObject({ loggedOut: true, scope: 'everywhere' });
    expect(everywhere.json.sessionsEnded).toBeGreaterThanOrEqual(3);
    expect(laptops[0]!.jar.has('sid')).toBe(false);

    for (const c of laptops.slice(1)) {
      for (let i = 0; i < 3; i++) expect((await c.profile()).status).toBe(401);
    }
    expect((await other.profile()).status).toBe(200);
  });

  it('log out everywhere needs a login', async () => {
    const anonymous = await new Client(lab.url).request('POST', '/logout/everywhere');
    expect(anonymous.status).toBe(401);
    expect(anonymous.json.error).toBe('not_logged_in');
  });
});

describe('log out everywhere with memory stores (sticky mode): only the instance that answers', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await startTestLab({ mode: 'sticky', instances: 2 });
  });
  afterAll(() => lab?.close());

  it('ends the sessions in that instance’s logbook and says so; the other instance’s live on', async () => {
    const laptops = [new Client(lab.url), new Client(lab.url), new Client(lab.url), new Client(lab.url)];
    const home: string[] = [];
    for (const c of laptops) home.push(String((await c.login('alice', 'wonderland')).json.createdBy));
    expect(new Set(home).size).toBe(2);

    const everywhere = await laptops[0]!.request('POST', '/logout/everywhere');
    expect(everywhere.status).toBe(200);
    expect(everywhere.json.scope).toBe('instance');
    expect(String(everywhere.json.message)).toMatch(/only/);
    const sameInstance = home.filter((h) => h === home[0]).length;
    expect(everywhere.json.sessionsEnded).toBe(sameInstance);

    for (const [i, c] of laptops.entries()) {
      if (i === 0) continue;
      expect((await c.profile()).status).toBe(home[i] === home[0] ? 401 : 200);
    }
  });
});
