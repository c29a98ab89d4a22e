import { describe, expect, it } from 'vitest';
import { parseInstances, loadBalancerConfig } from '../proxy/config.js';
import { loadConfig } from '../services/config.js';
import { ConfigError } from '../services/vocabulary.js';

const secret = 'a'.repeat(32);

describe('instance config', () => {
  it('refuses to start without a secret, or with a short one, and says what to do', () => {
    expect(() => loadConfig({})).toThrow(/SESSION_SECRET is required/);
    expect(() => loadConfig({ SESSION_SECRET: 'short' })).toThrow(/at least 32 characters/);
  });

  it('needs REDIS_URL for the redis store', () => {
    expect(() => loadConfig({ SESSION_SECRET: secret, STORE: 'redis' })).toThrow(/STORE=redis needs REDIS_URL/);
  });

  it('names the variable and the allowed values when one is wrong', () => {
    expect(() => loadConfig({ SESSION_SECRET: secret, STORE: 'postgres' })).toThrow(ConfigError);
    expect(() => loadConfig({ SESSION_SECRET: secret, STORE: 'postgres' })).toThrow(/STORE=postgres is not one of: memory, redis/);
    expect(() => loadConfig({ SESSION_SECRET: secret, PORT: 'eighty' })).toThrow(/PORT=eighty/);
  });

  it('takes a comma-separated list of secrets for rotation', () => {
    const config = loadConfig({ SESSION_SECRET: `${secret}, ${'b'.repeat(40)}` });
    expect(config.sessionSecrets).toEqual([secret, 'b'.repeat(40)]);
    expect(config.trustProxy).toEqual(['127.0.0.1', '::1']);
  });

  it('trusts X-Forwarded-* by address alone unless TRUST_PROXY_TOKEN is set, and refuses a short token', () => {
    expect(loadConfig({ SESSION_SECRET: secret }).trustProxyToken).toBeUndefined();
    expect(loadConfig({ SESSION_SECRET: secret, TRUST_PROXY_TOKEN: 't'.repeat(16) }).trustProxyToken).toBe('t'.repeat(16));
    expect(() => loadConfig({ SESSION_SECRET: secret, TRUST_PROXY_TOKEN: 'short' })).toThrow(/TRUST_PROXY_TOKEN must be at least 16/);
  });
});

describe('balancer config', () => {
  it('parses INSTANCES with and without ids', () => {
    expect(parseInstances('app-1=http://127.0.0.1:3001, http://10.0.0.2:3000/')).toEqual([
      { id: 'app-1', url: 'http://127.0.0.1:3001' },
      { id: 'app-2', url: 'http://10.0.0.2:3000' },
    ]);
  });

  it('refuses a missing or malformed instance list', () => {
    expect(() => loadBalancerConfig({})).toThrow(/INSTANCES is required/);
    expect(() => loadBalancerConfig({ INSTANCES: 'app-1=not a url' })).toThrow(/is not a URL/);
    expect(() => loadBalancerConfig({ INSTANCES: 'http://x:1', ROUTING: 'random' })).toThrow(/ROUTING=random/);
  });

  it('keeps the admin API on loopback unless told otherwise', () => {
    const config = loadBalancerConfig({ INSTANCES: 'http://127.0.0.1:3001' });
    expect(config.adminHost).toBe('127.0.0.1');
    expect(config.routing).toBe('round-robin');
  });
});
