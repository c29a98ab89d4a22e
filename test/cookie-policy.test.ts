import { describe, expect, it } from 'vitest';
import { HOST_PREFIX, readSessionCookie, writeSessionCookie } from '../services/cookie-policy.js';

describe('the session cookie follows the client transport', () => {
  it('over HTTP: the plain cookie is read and written as is (no Secure, or it would never come back)', () => {
    const cookies: Record<string, string | undefined> = { sid: 'plain', [`${HOST_PREFIX}sid`]: 'host' };
    readSessionCookie(cookies, 'sid', false);
    expect(cookies.sid).toBe('plain');
    const lines = ['sid=abc; Path=/; HttpOnly; SameSite=Lax'];
    expect(writeSessionCookie(lines, 'sid', false)).toEqual(lines);
  });

  it('over HTTPS: only __Host-sid counts; a plain sid (planted over HTTP) is ignored', () => {
    const both: Record<string, string | undefined> = { sid: 'planted', [`${HOST_PREFIX}sid`]: 'real' };
    readSessionCookie(both, 'sid', true);
    expect(both.sid).toBe('real');
    const plainOnly: Record<string, string | undefined> = { sid: 'planted' };
    readSessionCookie(plainOnly, 'sid', true);
    expect(plainOnly.sid).toBeUndefined();
  });

  it('over HTTPS: our Set-Cookie becomes __Host-sid with Secure (once), other cookies are left alone', () => {
    const out = writeSessionCookie(['sid=abc; Path=/; HttpOnly', 'sid=def; Path=/; Secure', 'coatcheck_lb=app-1; Path=/'], 'sid', true);
    expect(out).toEqual([`${HOST_PREFIX}sid=abc; Path=/; HttpOnly; Secure`, `${HOST_PREFIX}sid=def; Path=/; Secure`, 'coatcheck_lb=app-1; Path=/']);
  });
});
