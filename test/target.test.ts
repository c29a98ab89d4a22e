import { describe, expect, it } from 'vitest';
import { canonicalTarget } from '../proxy/balancer/target.js';

const path = (raw: string) => {
  const target = canonicalTarget(raw);
  if (!target.ok) throw new Error(`${raw} was refused: ${target.message}`);
  return target.url;
};
const refusal = (raw: string) => {
  const target = canonicalTarget(raw);
  return target.ok ? null : target.status;
};

describe('canonicalTarget: one path, checked and forwarded', () => {
  it('keeps ordinary paths and their query strings exactly', () => {
    expect(path('/')).toBe('/');
    expect(path('/profile')).toBe('/profile');
    expect(path('/profile?x=1&y=%2F..//z')).toBe('/profile?x=1&y=%2F..//z');
    expect(path('/a/b/')).toBe('/a/b/');
    expect(path('/caf%C3%A9')).toBe('/caf%C3%A9');
    expect(path('/a%3fb')).toBe('/a%3Fb');
  });

  it('decodes unreserved characters, collapses slashes and resolves dot segments', () => {
    expect(path('/%70rofile')).toBe('/profile');
    expect(path('//profile')).toBe('/profile');
    expect(path('/a//b///c')).toBe('/a/b/c');
    expect(path('/./profile')).toBe('/profile');
    expect(path('/a/../profile')).toBe('/profile');
    expect(path('/a/b/..')).toBe('/a/');
    expect(path('/a/.')).toBe('/a/');
    expect(path('/../../profile')).toBe('/profile');
    expect(path('/a/%2E%2E/profile')).toBe('/profile');
  });

  it('refuses /_control in every spelling with a 404 of its own', () => {
    for (const raw of [
      '/_control/crash',
      '//_control/crash',
      '///_control/crash',
      '/%5Fcontrol/crash',
      '/%5fcontrol/crash',
      '/./_control/crash',
      '/_CONTROL/crash',
      '/_Control',
      '/a/../_control/crash',
      '/%2e/_control/seed',
      '/_contro%6C/store?x=1',
    ]) {
      expect(refusal(raw), raw).toBe(404);
    }
  });

  it('refuses non-origin forms, encoded separators and double encoding with 400', () => {
    for (const raw of [
      'http://evil.example/_control/crash',
      'HTTP://evil.example/profile',
      'evil.example:443',
      '*',
      '',
      '/%2F_control/crash',
      '/a%2fb',
      '/%5C_control/crash',
      '/\\_control/crash',
      '/%255Fcontrol/crash',
      '/%25',
      '/%zz',
      '/%5',
      '/profile#x',
    ]) {
      expect(refusal(raw), raw).toBe(400);
    }
  });
});
