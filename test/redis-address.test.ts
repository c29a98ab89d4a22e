import { describe, expect, it } from 'vitest';
import { parseReplication } from '../proxy/control/redis-topology.js';
import { parseSentinelAddress, redisAddressFromEnv, sentinelUrl } from '../services/stores/redis-address.js';
import { loadConfig } from '../services/config.js';
import { ConfigError } from '../services/vocabulary.js';

describe('Redis addresses', () => {
  it('reads a Sentinel address: the Sentinels and the primary group name', () => {
    expect(parseSentinelAddress('redis-sentinel://127.0.0.1:26379,sentinel-2:26380/mymaster')).toEqual({
      sentinels: [
        { host: '127.0.0.1', port: 26379 },
        { host: 'sentinel-2', port: 26380 },
      ],
      name: 'mymaster',
    });
    expect(parseSentinelAddress('redis://127.0.0.1:6379')).toBeNull();
  });

  it('refuses a malformed Sentinel address with what it should look like', () => {
    expect(() => parseSentinelAddress('redis-sentinel://127.0.0.1:26379')).toThrow(/redis-sentinel:\/\/host:port\[,host:port\.\.\.\]\/<primary name>/);
    expect(() => sentinelUrl(['127.0.0.1'], 'mymaster')).toThrow(/"127.0.0.1" is not host:port/);
    expect(() => sentinelUrl(['127.0.0.1:70000'], 'mymaster')).toThrow(ConfigError);
  });

  it('takes REDIS_SENTINELS and REDIS_SENTINEL_NAME as one address, and refuses both ways at once', () => {
    expect(redisAddressFromEnv({ REDIS_SENTINELS: 'a:1,b:2' })).toBe('redis-sentinel://a:1,b:2/mymaster');
    expect(redisAddressFromEnv({ REDIS_SENTINELS: 'a:1', REDIS_SENTINEL_NAME: 'sessions' })).toBe('redis-sentinel://a:1/sessions');
    expect(redisAddressFromEnv({})).toBeUndefined();
    expect(() => redisAddressFromEnv({ REDIS_URL: 'redis://x:1', REDIS_SENTINELS: 'a:1' })).toThrow(/not both/);
    const config = loadConfig({ SESSION_SECRET: 'a'.repeat(32), STORE: 'redis', REDIS_SENTINELS: 'a:1', REDIS_WAIT_REPLICAS: '1' });
    expect(config.redisUrl).toBe('redis-sentinel://a:1/mymaster');
    expect(config.redisWaitReplicas).toBe(1);
  });
});

describe('the replication view', () => {
  it('gives each replica its lag in bytes behind the primary', () => {
    const info = [
      '# Server',
      'tcp_port:6380',
      '# Replication',
      'role:master',
      'connected_slaves:2',
      'slave0:ip=127.0.0.1,port=6381,state=online,offset=1000,lag=0',
      'slave1:ip=127.0.0.1,port=6382,state=wait_bgsave,offset=0,lag=3',
      'master_repl_offset:1200',
    ].join('\r\n');
    expect(parseReplication(info)).toEqual({
      primary: '127.0.0.1:6380',
      primaryOffset: 1200,
      replicas: [
        { address: '127.0.0.1:6381', state: 'online', offset: 1000, lagBytes: 200, lagSeconds: 0 },
        { address: '127.0.0.1:6382', state: 'wait_bgsave', offset: 0, lagBytes: 1200, lagSeconds: 3 },
      ],
    });
  });

  it('names no primary when the node answering is a replica', () => {
    expect(parseReplication('tcp_port:6381\r\nrole:slave\r\nmaster_repl_offset:5\r\n').primary).toBeNull();
  });
});
