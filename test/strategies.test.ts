import { describe, expect, it } from 'vitest';
import { MODES, modeOf } from '../services/vocabulary.js';
import { cookieAffinity, createStrategy, fnv1a, ipHash, roundRobin, type Backend } from '../proxy/balancer/strategies.js';

const pool = (n: number, down: number[] = []): Backend[] =>
  Array.from({ length: n }, (_, i) => ({ id: `app-${i + 1}`, url: `http://127.0.0.1:${3001 + i}`, up: !down.includes(i + 1) }));
const req = (clientIp = '127.0.0.1', affinity?: string) => ({ clientIp, affinity });

describe('round robin', () => {
  it('visits every live instance in turn', () => {
    const strategy = roundRobin();
    const backends = pool(3);
    const ids = Array.from({ length: 6 }, () => strategy.pick(backends, req())!.backend.id);
    expect(ids).toEqual(['app-1', 'app-2', 'app-3', 'app-1', 'app-2', 'app-3']);
  });

  it('skips instances that are down and gives up when none is up', () => {
    const strategy = roundRobin();
    const ids = Array.from({ length: 4 }, () => strategy.pick(pool(3, [2]), req())!.backend.id);
    expect(ids).toEqual(['app-1', 'app-3', 'app-1', 'app-3']);
    expect(strategy.pick(pool(2, [1, 2]), req())).toBeNull();
  });
});

describe('cookie affinity', () => {
  it('pins a new client and asks the balancer to set the cookie', () => {
    const decision = cookieAffinity().pick(pool(3), req())!;
    expect(decision.setAffinity).toBe(true);
  });

  it('honours the cookie while the pinned instance is up', () => {
    const strategy = cookieAffinity();
    for (let i = 0; i < 5; i++) {
      expect(strategy.pick(pool(3), req('127.0.0.1', 'app-2'))).toEqual({ backend: pool(3)[1], setAffinity: false });
    }
  });

  it('moves a client pinned to a dead or unknown instance and re-issues the cookie', () => {
    const moved = cookieAffinity().pick(pool(3, [2]), req('127.0.0.1', 'app-2'))!;
    expect(moved.backend.id).not.toBe('app-2');
    expect(moved.setAffinity).toBe(true);
    expect(cookieAffinity().pick(pool(3), req('127.0.0.1', 'app-9'))!.setAffinity).toBe(true);
  });
});

describe('ip hash', () => {
  const addresses = Array.from({ length: 300 }, (_, i) => `127.0.${i >> 8}.${(i & 255) + 1}`);

  it('sends one address to the same instance every time', () => {
    const strategy = ipHash();
    for (const ip of addresses.slice(0, 20)) {
      const first = strategy.pick(pool(3), req(ip))!.backend.id;
      expect(strategy.pick(pool(3), req(ip))!.backend.id).toBe(first);
    }
  });

  it('spreads many addresses over all instances', () => {
    const counts = new Map<string, number>();
    for (const ip of addresses) {
      const id = ipHash().pick(pool(3), req(ip))!.backend.id;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    expect(counts.size).toBe(3);
    for (const count of counts.values()) expect(count).toBeGreaterThan(60);
  });

  it('remaps most addresses when one instance is added (the lesson: modulo hashing is fragile)', () => {
    const moved = addresses.filter((ip) => ipHash().pick(pool(3), req(ip))!.backend.id !== ipHash().pick(pool(4), req(ip))!.backend.id);
    // Theory for modulo hashing: N/(N+1) = 3/4 of the addresses move.
    expect(moved.length / addresses.length).toBeGreaterThan(0.6);
    expect(moved.length / addresses.length).toBeLessThan(0.9);
  });

  it('passes the clients of a down instance to a live one', () => {
    const ip = addresses.find((a) => ipHash().pick(pool(3), req(a))!.backend.id === 'app-2')!;
    expect(ipHash().pick(pool(3, [2]), req(ip))!.backend.id).not.toBe('app-2');
    expect(ipHash().pick(pool(3, [1, 2, 3]), req(ip))).toBeNull();
  });

  it('hashes with FNV-1a (stable across processes)', () => {
    expect(fnv1a('')).toBe(0x811c9dc5);
    expect(fnv1a('a')).toBe(0xe40c292c);
  });
});

describe('modes', () => {
  it('are presets of routing and store', () => {
    expect(modeOf('round-robin', 'memory')).toBe('memory');
    expect(modeOf('cookie', 'memory')).toBe('sticky');
    expect(modeOf('round-robin', 'redis')).toBe('redis');
    expect(modeOf('ip-hash', 'memory')).toBeNull();
    expect(createStrategy(MODES.sticky.routing).kind).toBe('cookie');
  });
});
