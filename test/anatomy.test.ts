import { beforeAll, describe, expect, it } from 'vitest';
import { anatomyReport, anatomySvgOf } from '../scripts/bench/anatomy.js';
import { anatomy, LAYERS } from '../scripts/bench/anatomy-layers.js';
import type { BenchSettings } from '../scripts/bench/defaults.js';
import { project, TARGET_UTILISATION } from '../scripts/bench/projection.js';
import { summarizeProfile, type CpuProfile } from '../scripts/bench/profile-summary.js';
import { ID_SLOT, templateOf, type CapacityResult, type CommandMix } from '../scripts/bench/redis-capacity.js';
import { encodeCommand, parseMonitorLine, ReplyCounter } from '../scripts/bench/resp.js';
import { runBench, type BenchResults } from '../scripts/bench/run.js';

describe('RESP, as the Redis-only load writes and counts it', () => {
  it('encodes arguments with their length in bytes, not characters', () => {
    expect(encodeCommand(['SET', 'k', 'é'])).toBe('*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\né\r\n');
  });

  it('counts whole replies across chunk boundaries, nested arrays and null bulk strings included', () => {
    const counter = new ReplyCounter();
    const stream = Buffer.from('+OK\r\n+QUEUED\r\n*3\r\n:1\r\n$-1\r\n*1\r\n$5\r\nhello\r\n$3\r\nabc\r\n');
    // Fed a byte at a time: every partial reply waits for the rest.
    for (const byte of stream) counter.push(Buffer.from([byte]));
    expect(counter.replies).toBe(4);
    expect(counter.errors.count).toBe(0);
  });

  it('counts an error reply once, also one nested in a transaction and split over chunks', () => {
    const counter = new ReplyCounter();
    counter.push(Buffer.from('-ERR bad\r\n*2\r\n:1\r\n-WRONG'));
    counter.push(Buffer.from('TYPE x\r\n'));
    expect(counter.replies).toBe(2);
    expect(counter.errors.count).toBe(2);
  });

  it('rejects a reply type it does not know instead of miscounting', () => {
    expect(() => new ReplyCounter().push(Buffer.from('%1\r\n'))).toThrow(/unexpected RESP type/);
  });
});

describe('MONITOR lines and command templates', () => {
  it('unquotes arguments as redis-server quoted them, and names the source', () => {
    const line = String.raw`+1733160000.123456 [0 127.0.0.1:51234] "eval" "\nlocal a = \"x\"\\" "caf\xc3\xa9" ""`;
    expect(parseMonitorLine(line)).toEqual({ source: '127.0.0.1:51234', args: ['eval', '\nlocal a = "x"\\', 'café', ''] });
    expect(parseMonitorLine('1733160000.1 [0 lua] "GET" "k"')).toEqual({ source: 'lua', args: ['GET', 'k'] });
    expect(parseMonitorLine('+OK')).toBeNull();
  });

  it('puts a slot wherever the session id appeared, and refuses an id of another length', () => {
    const id = 'a'.repeat(32);
    expect(templateOf(['set', `p:${id}`, '{"x":1}'], id)).toEqual(['set', `p:${ID_SLOT}`, '{"x":1}']);
    expect(() => templateOf(['get', 'p:short'], 'short')).toThrow(/characters/);
  });
});

describe('the layers of one lookup', () => {
  const row = (name: string, cpu: Record<string, number>) => ({
    name,
    median: { okRps: 1, cpu: Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, { usPerRequest: v }])) },
  });
  const rows = [
    row('anatomy-bare', { bare: 20 }),
    row('anatomy-cookie', { cookie: 25 }),
    row('anatomy-session', { session: 60 }),
    row('anatomy-memory', { 'lab-memory': 66 }),
    row('anatomy-redis', { 'lab-redis': 90, redis: 5 }),
    row('anatomy-balancer', { balancer: 150, 'lab-redis': 95, redis: 5 }),
  ];

  it('reads each layer as what its row adds to the one before, from the process doing the work', () => {
    const a = anatomy(rows);
    expect(Object.fromEntries(a.layers.map((l) => [l.key, l.usPerRequest]))).toEqual({
      framework: 20,
      cookie: 5,
      session: 35,
      lab: 6,
      network: 24,
      store: 5,
      proxy: 150,
    });
    expect(a.lookupsPerInstanceCore).toEqual({ memory: Math.round(1e6 / 66), redis: Math.round(1e6 / 90) });
  });

  it('leaves a layer empty when one of its rows was not measured', () => {
    const a = anatomy(rows.filter((r) => r.name !== 'anatomy-cookie'));
    expect(a.layers.find((l) => l.key === 'cookie')!.usPerRequest).toBeNull();
    expect(a.layers.find((l) => l.key === 'session')!.usPerRequest).toBeNull();
    expect(a.layers.find((l) => l.key === 'framework')!.usPerRequest).toBe(20);
  });
});

describe('CPU profile summary', () => {
  it('ranks self time by package and function, leaving idle out', () => {
    const frame = (functionName: string, url: string, lineNumber = 0) => ({ functionName, url, lineNumber });
    const profile: CpuProfile = {
      nodes: [
        { id: 1, callFrame: frame('(idle)', '') },
        { id: 2, callFrame: frame('Session', 'file:///x/node_modules/@fastify/session/lib/session.js', 21) },
        { id: 3, callFrame: frame('get', 'file:///x/services/stores/memory.ts') },
        { id: 4, callFrame: frame('(garbage collector)', '') },
      ],
      samples: [1, 2, 2, 3, 4, 1],
      timeDeltas: [500, 100, 100, 100, 200, 500],
    };
    const s = summarizeProfile(profile);
    expect(s.busyMs).toBe(1);
    expect(s.byPackage).toEqual([
      { name: '@fastify/session', share: 0.4 },
      { name: '(garbage collector)', share: 0.4 },
      { name: 'services/stores', share: 0.2 },
    ]);
    expect(s.byFunction[0]).toEqual({ name: 'Session node_modules/@fastify/session/lib/session.js:22', share: 0.4 });
  });
});

// The whole group against the real processes it starts: figures are checked for shape and sign
// only, never for speed (a benchmark is not a timed test).
const TINY: BenchSettings = { connections: 4, durationSec: 1, warmupSec: 0, rounds: 1, sessions: 4, instances: 1, scale: [1_000] };

describe('npm run bench -- --only anatomy (tiny)', () => {
  let results: BenchResults;
  beforeAll(async () => {
    results = await runBench(TINY, { quick: true, only: ['anatomy'] });
  }, 120_000);

  it('measures every layer row with successful lookups only', () => {
    const rows = [...new Set(LAYERS.map((l) => l.row))];
    expect(results.rows.map((r) => r.name)).toEqual(rows);
    for (const row of results.rows) {
      expect(row.median!.okRps, row.name).toBeGreaterThan(0);
      expect(row.non2xx, `${row.name}: every cookie must find its session`).toBe(0);
      expect(row.errors, row.name).toBe(0);
    }
  });

  it('captures the lab’s real command mixes and replays them without an error reply', () => {
    const extra = results.groups.find((g) => g.name === 'anatomy')!.extra!;
    const mixes = extra.commandMixes as CommandMix[];
    const byName = Object.fromEntries(mixes.map((m) => [m.name, m.commands]));
    // A lookup is one read of the session's key (with the race guard, one MGET of it and its cart);
    // a logout ends it and a login writes it (DEL and SET, or the guard's scripts by digest, naming it).
    const namesSession = (command: string[]) => command.slice(1).some((arg) => arg.endsWith(ID_SLOT));
    expect(byName.lookup).toHaveLength(1);
    expect(['get', 'mget']).toContain(byName.lookup![0]![0]!.toLowerCase());
    expect(namesSession(byName.lookup![0]!)).toBe(true);
    expect(byName.logout!.some((c) => ['del', 'evalsha'].includes(c[0]!.toLowerCase()) && namesSession(c))).toBe(true);
    expect(byName.login!.some((c) => ['set', 'evalsha'].includes(c[0]!.toLowerCase()) && namesSession(c))).toBe(true);
    expect(byName.rolling!.length).toBeGreaterThan(byName.lookup!.length);

    const capacity = extra.redisCapacity as CapacityResult[];
    expect(capacity.map((c) => c.mix)).toEqual(['lookup', 'rolling', 'login', 'logout']);
    for (const c of capacity) {
      expect(c.requestsPerSec, c.mix).toBeGreaterThan(0);
      expect(c.errors, `${c.mix} replayed with error replies`).toBe(0);
    }
  });

  it('prints every layer and draws the stacked chart', () => {
    const report = anatomyReport(results)!;
    for (const layer of LAYERS) expect(report).toContain(layer.label);
    expect(report).toContain('lookups/s per instance core');
    const svg = anatomySvgOf(results);
    expect(svg.startsWith('<svg')).toBe(true);
    for (const layer of LAYERS) expect(svg).toContain(`>${layer.row}<`);
  });
});

describe('the scaling projection', () => {
  const costs = { instanceUsPerLookup: 50, redisUs: { lookup: 2, rolling: 12, login: 30, logout: 3 }, bytesPerSession: 500 };

  it('adds each request kind at its measured cost, cores at the target utilisation', () => {
    // 60,000 users x 6/min = 6,000 lookups/s; 100 refreshes/s (one per 600 s); 50 logins and logouts/s (one per 1,200 s).
    const p = project(costs, { activeUsers: 60_000, requestsPerUserPerMinute: 6, refreshEverySec: 600, sessionLengthSec: 1_200 });
    expect(p.lookupsPerSec).toBe(6_000);
    expect(p.instanceCores).toBeCloseTo((6_000 * 50) / 1e6 / TARGET_UTILISATION, 9);
    // Redis: 6,000 x 2 + 100 x (12 - 2) + 50 x (30 + 3) = 14,650 µs per second.
    expect(p.redisCores).toBeCloseTo(14_650 / 1e6 / TARGET_UTILISATION, 9);
    expect(p.redisMemoryBytes).toBe(30_000_000);
    expect(p.oneRedis).toBe(true);
  });

  it('says when one Redis no longer suffices', () => {
    const p = project(costs, { activeUsers: 10_000_000, requestsPerUserPerMinute: 6, refreshEverySec: 900, sessionLengthSec: 1_800 });
    expect(p.redisCores).toBeGreaterThan(1);
    expect(p.oneRedis).toBe(false);
  });
});
