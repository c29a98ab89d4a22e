import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Lab } from '../scripts/lab.js';
import { Client } from './helpers/http.js';
import { balancerState, rawRequest } from './helpers/hardening.js';
import { startTestLab } from './helpers/lab.js';

/** POST /login with exactly this body and content type, through the balancer. */
async function post(url: string, body: string, contentType = 'application/json') {
  const response = await fetch(`${url}/login`, { method: 'POST', headers: { 'content-type': contentType }, body });
  const json = (await response.json()) as Record<string, unknown>;
  return { status: response.status, json, servedBy: response.headers.get('x-served-by') };
}

describe('bad input through the balancer: a clear 4xx JSON error, nothing crashes, nothing is lost', () => {
  let lab: Lab;
  let user: Client;
  beforeAll(async () => {
    lab = await startTestLab({ mode: 'redis', instances: 2 });
    user = new Client(lab.url);
    expect((await user.login('ravi', 'gold-member')).status).toBe(200);
  });
  afterAll(() => lab?.close());

  it.each([
    ['malformed JSON', '{"username": "ravi", ', 'invalid_json'],
    ['an empty body', '', 'invalid_json'],
    ['null', 'null', 'invalid_body'],
    ['an array', '[{"username":"ravi","password":"gold-member"}]', 'invalid_body'],
    ['missing password', '{"username":"ravi"}', 'invalid_body'],
    ['an operator object instead of a string', '{"username":"ravi","password":{"$ne":1}}', 'invalid_body'],
    ['numbers (no type coercion)', '{"username":123,"password":456}', 'invalid_body'],
    ['an over-long username', JSON.stringify({ username: 'r'.repeat(65), password: 'x' }), 'invalid_body'],
    ['an over-long password', JSON.stringify({ username: 'ravi', password: 'x'.repeat(257) }), 'invalid_body'],
    ['an extra field', '{"username":"ravi","password":"gold-member","admin":true}', 'invalid_body'],
    ['a __proto__ key', '{"username":"ravi","password":"gold-member","__proto__":{"admin":true}}', 'invalid_json'],
  ])('login with %s: 400', async (_what, body, error) => {
    const response = await post(lab.url, body);
    expect(response.status).toBe(400);
    expect(response.json.error).toBe(error);
    expect(typeof response.json.message).toBe('string');
  });

  it.each([
    ['text/plain', '{"username":"ravi","password":"gold-member"}'],
    ['application/x-www-form-urlencoded', 'username=ravi&password=gold-member'],
    ['multipart/form-data; boundary=x', '--x\r\nContent-Disposition: form-data; name="username"\r\n\r\nravi\r\n--x--'],
  ])('login with a %s body: 415 (a cross-site form cannot log anyone in)', async (contentType, body) => {
    const response = await post(lab.url, body, contentType);
    expect(response.status).toBe(415);
    expect(response.json.error).toBe('unsupported_media_type');
  });

  it('a 20 KiB body: 413 from the instance (16 KiB limit); a 70 KiB body: 413 from the balancer (64 KiB)', async () => {
    const padded = (size: number) => JSON.stringify({ username: 'ravi', password: 'gold-member', pad: 'x'.repeat(size) });
    const atInstance = await post(lab.url, padded(20 * 1024));
    expect(atInstance.status).toBe(413);
    expect(atInstance.json.error).toBe('body_too_large');
    expect(atInstance.servedBy).toMatch(/^app-/);
    const atBalancer = await post(lab.url, padded(70 * 1024));
    expect(atBalancer.status).toBe(413);
    expect(atBalancer.json.error).toBe('body_too_large');
    expect(atBalancer.servedBy).toBeNull();
  });

  it.each([
    ['garbage', 'sid=%%%garbage%%%'],
    ['a bad percent-encoding', 'sid=%E0%A4%A'],
    ['a quoted value', 'sid="abc.def"'],
    ['no signature (a bare session id)', 'sid=0123456789abcdefghijklmnopqrstuv'],
    ['an 8 KB value', `sid=${'a'.repeat(8 * 1024)}`],
    ['an empty value', 'sid='],
    ['only a separator', 'sid=.'],
  ])('GET /profile with a cookie that is %s: 401, never 500', async (_what, cookie) => {
    const response = await fetch(`${lab.url}/profile`, { headers: { cookie } });
    expect(response.status).toBe(401);
    expect(((await response.json()) as { error: string }).error).toBe('not_logged_in');
  });

  it('a tampered cookie (one character of the id changed) is refused as a bad signature, and the real one still works', async () => {
    const real = user.jar.get('sid')!;
    const tampered = (real[0] === 'A' ? 'B' : 'A') + real.slice(1);
    const response = await fetch(`${lab.url}/profile`, { headers: { cookie: `sid=${tampered}` } });
    expect(response.status).toBe(401);
    expect(((await response.json()) as { reason: string }).reason).toBe('bad_signature');
    // A 401 for a bad cookie never clears or replaces the real one.
    expect(response.headers.getSetCookie()).toEqual([]);
    expect((await user.profile()).status).toBe(200);
  });

  it('duplicated cookies: neither counts (400 ambiguous_session_cookie), whatever the order', async () => {
    const real = user.jar.get('sid')!;
    for (const cookie of [`sid=${real}; sid=garbage`, `sid=garbage; sid=${real}`]) {
      const response = await fetch(`${lab.url}/profile`, { headers: { cookie } });
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: string }).error).toBe('ambiguous_session_cookie');
    }
    expect((await user.profile()).status).toBe(200);
  });

  it('headers over the limit: 431 from the balancer, as JSON', async () => {
    const response = await rawRequest(lab.url, `GET /profile HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20 * 1024)}\r\n\r\n`);
    expect(response.status).toBe(431);
    expect(response.text).toMatch(/"error":"bad_request"/);
  });

  it('a malformed request line or content-length: 400 from the balancer', async () => {
    expect((await rawRequest(lab.url, 'NOT-HTTP AT ALL\r\n\r\n')).status).toBe(400);
    expect((await rawRequest(lab.url, 'POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: banana\r\n\r\n{}')).status).toBe(400);
  });

  it('a Trailer header (which once crashed http-proxy) is dropped: normal answer', async () => {
    const response = await rawRequest(
      lab.url,
      `GET /profile HTTP/1.1\r\nHost: x\r\nTrailer: X-Checksum\r\nCookie: sid=${user.jar.get('sid')}\r\nConnection: close\r\n\r\n`,
    );
    expect(response.status).toBe(200);
    const chunked = await rawRequest(
      lab.url,
      'POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\nConnection: close\r\n\r\n' +
        '2\r\n{}\r\n0\r\nX-Checksum: 1\r\n\r\n',
    );
    expect(chunked.status).toBe(400);
  });

  it('an unknown route or a bad path: 404 JSON that names the real routes', async () => {
    const response = await fetch(`${lab.url}/admin%`);
    expect([400, 404]).toContain(response.status);
    const json = (await response.json()) as { error: string };
    expect(typeof json.error).toBe('string');
    expect((await fetch(`${lab.url}/_control/crash`, { method: 'POST' })).status).toBe(404);
  });

  it('after all of it: every process is up, the balancer never answered 5xx itself, and the session survived', async () => {
    for (const instance of lab.instances) expect(instance.child.exitCode).toBeNull();
    expect(lab.balancer.exitCode).toBeNull();
    const state = await balancerState(lab);
    expect(state.stats.failed).toBe(0);
    expect(state.instances.every((i) => i.up)).toBe(true);
    const profile = await user.profile();
    expect(profile.status).toBe(200);
    expect(profile.json.username).toBe('ravi');
  });
});
