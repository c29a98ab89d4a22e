import { describe, expect, it } from 'vitest';
import { consistentHash, createStrategy, hashRing, ringLookup, type Backend } from '../proxy/balancer/strategies.js';
import { userAddress } from '../scripts/simulate/population.js';
import {
  afterKill,
  afterRedisRestart,
  afterScaleOut,
  expectedRate,
  expectedUsersAffected,
  fraction,
  moduloRemapFor,
  moduloRemapShare,
  phaseRate,
  ringRemapFor,
  ringRemapShare,
  steady,
} from '../scripts/simulate/theory.js';

const ids = (n: number) => Array.from({ length: n }, (_, i) => `app-${i + 1}`);
const addresses = Array.from({ length: 10_000 }, (_, i) => userAddress(i));

describe('steady state', () => {
  it('round robin over per-instance logbooks misses (N-1)/N of follow-up requests', () => {
    expect(phaseRate(steady('round-robin', 'memory', 1))).toBe(0);
    expect(phaseRate(steady('round-robin', 'memory', 3))).toBeCloseTo(2 / 3, 12);
    expect(phaseRate(steady('round-robin', 'memory', 5))).toBeCloseTo(4 / 5, 12);
    expect(steady('round-robin', 'memory', 3).formula).toBe('(N-1)/N = 2/3');
  });

  it('pinning routings and the shared store lose nothing', () => {
    for (const routing of ['cookie', 'ip-hash', 'consistent-hash'] as const) expect(phaseRate(steady(routing, 'memory', 3))).toBe(0);
    for (const routing of ['round-robin', 'cookie', 'ip-hash', 'consistent-hash'] as const) expect(phaseRate(steady(routing, 'redis', 5))).toBe(0);
  });

  it('almost every round-robin user is hit at least once: 1 - (1/N)^R', () => {
    const model = steady('round-robin', 'memory', 3);
    expect(expectedUsersAffected([{ model, requestsPerUser: 10 }])).toBeCloseTo(1 - (1 / 3) ** 10, 12);
    expect(expectedUsersAffected([{ model: steady('cookie', 'memory', 3), requestsPerUser: 10 }])).toBe(0);
  });
});

describe('an instance is killed and restarted empty', () => {
  it('sticky users of that instance lose every request after: 1/N', () => {
    const model = afterKill('cookie', 'memory', 3);
    expect(phaseRate(model)).toBeCloseTo(1 / 3, 12);
    expect(expectedUsersAffected([{ model, requestsPerUser: 5 }])).toBeCloseTo(1 / 3, 12);
    // Where the logins really landed replaces the average.
    expect(phaseRate(afterKill('cookie', 'memory', 3, 0.4))).toBeCloseTo(0.4, 12);
  });

  it('round robin: the lost 1/N plus the usual misses of everyone else, 1/N + ((N-1)/N)^2', () => {
    expect(phaseRate(afterKill('round-robin', 'memory', 3))).toBeCloseTo(7 / 9, 12);
    expect(afterKill('round-robin', 'memory', 3).formula).toBe('1/N + ((N-1)/N)^2 = 7/9');
    expect(phaseRate(afterKill('round-robin', 'memory', 4))).toBeCloseTo(1 / 4 + (3 / 4) ** 2, 12);
  });

  it('the shared store loses nothing', () => {
    expect(phaseRate(afterKill('round-robin', 'redis', 3))).toBe(0);
    expect(phaseRate(afterKill('cookie', 'redis', 3))).toBe(0);
  });
});

describe('an instance is added', () => {
  it('round robin now also lands on an instance with an empty logbook: N/(N+1)', () => {
    expect(phaseRate(afterScaleOut('round-robin', 'memory', 3))).toBeCloseTo(3 / 4, 12);
  });

  it('cookie affinity moves no existing user; redis loses nothing', () => {
    expect(phaseRate(afterScaleOut('cookie', 'memory', 3))).toBe(0);
    expect(phaseRate(afterScaleOut('ip-hash', 'redis', 3))).toBe(0);
  });

  it('ip-hash (modulo) moves about N/(N+1) of the addresses, a consistent-hash ring about 1/(N+1)', () => {
    expect(phaseRate(afterScaleOut('ip-hash', 'memory', 3))).toBeCloseTo(3 / 4, 12);
    expect(phaseRate(afterScaleOut('consistent-hash', 'memory', 3))).toBeCloseTo(1 / 4, 12);
    // Tolerance: 10,000 addresses; ±0.02 for modulo hashing, ±0.03 for a ring of 160 points per instance.
    for (const n of [2, 3, 4, 5]) {
      expect(Math.abs(moduloRemapFor(addresses, n) - moduloRemapShare(n))).toBeLessThanOrEqual(0.02);
      expect(Math.abs(ringRemapFor(addresses, ids(n), ids(n + 1)) - ringRemapShare(n))).toBeLessThanOrEqual(0.03);
    }
  });
});

describe('Redis restarts', () => {
  it('without persistence every session is gone; with appendonly none', () => {
    expect(phaseRate(afterRedisRestart(false))).toBe(1);
    expect(expectedUsersAffected([{ model: afterRedisRestart(false), requestsPerUser: 1 }])).toBe(1);
    expect(phaseRate(afterRedisRestart(true))).toBe(0);
  });
});

describe('combining phases', () => {
  it('weights each phase by its requests', () => {
    const before = steady('cookie', 'memory', 3);
    const after = afterKill('cookie', 'memory', 3);
    expect(expectedRate([{ model: before, requests: 300 }, { model: after, requests: 100 }])).toBeCloseTo(1 / 12, 12);
    expect(expectedRate([])).toBe(0);
  });

  it('writes fractions reduced', () => {
    expect(fraction(6, 9)).toBe('2/3');
    expect(fraction(7, 9)).toBe('7/9');
  });
});

describe('consistent-hash routing', () => {
  const pool = (n: number, down: string[] = []): Backend[] =>
    ids(n).map((id, i) => ({ id, url: `http://127.0.0.1:${3001 + i}`, up: !down.includes(id) }));
  const sample = addresses.slice(0, 2000);
  // One strategy per pool, as the balancer keeps one: it caches the ring.
  const strategies = new Map<string, ReturnType<typeof consistentHash>>();
  const route = (backends: Backend[], ip: string) => {
    const key = backends.map((b) => `${b.id}:${b.up}`).join(',');
    if (!strategies.has(key)) strategies.set(key, consistentHash());
    return strategies.get(key)!.pick(backends, { clientIp: ip, affinity: undefined })?.backend.id;
  };

  it('is a routing kind the balancer can be switched to', () => {
    expect(createStrategy('consistent-hash').kind).toBe('consistent-hash');
  });

  it('sends one address to the same instance every time, and spreads addresses over all of them', () => {
    const strategy = consistentHash();
    const backends = pool(3);
    const counts = new Map<string, number>();
    for (const ip of sample) {
      const first = strategy.pick(backends, { clientIp: ip, affinity: undefined })!.backend.id;
      expect(strategy.pick(backends, { clientIp: ip, affinity: undefined })!.backend.id).toBe(first);
      counts.set(first, (counts.get(first) ?? 0) + 1);
    }
    // Each of 3 instances gets a quarter to a half of 2,000 addresses (an even share is a third).
    for (const id of ids(3)) expect(counts.get(id)).toBeGreaterThan(500);
    for (const id of ids(3)) expect(counts.get(id)).toBeLessThan(1000);
  });

  it('an added instance only takes clients: nobody moves between the old ones', () => {
    for (const ip of sample) {
      const before = route(pool(3), ip);
      const after = route(pool(4), ip);
      if (after !== before) expect(after).toBe('app-4');
    }
  });

  it("a down instance's clients go to live ones; everyone else stays", () => {
    for (const ip of sample.slice(0, 500)) {
      const before = route(pool(3), ip);
      const after = route(pool(3, ['app-2']), ip);
      if (before === 'app-2') expect(after).not.toBe('app-2');
      else expect(after).toBe(before);
    }
    expect(route(pool(2, ['app-1', 'app-2']), '127.0.0.1')).toBeUndefined();
    expect(route([], '127.0.0.1')).toBeUndefined();
  });

  it('the ring lookup the theory uses is the one the balancer uses', () => {
    const ring = hashRing(ids(3));
    for (const ip of sample.slice(0, 200)) expect(ringLookup(ring, ip)).toBe(route(pool(3), ip));
  });
});
