import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { cpuWindow, round, type Tracked } from './cpu.js';
import { CPU_BOUND_SHARE } from './defaults.js';
import { encodeCommand, parseMonitorLine, ReplyCounter } from './resp.js';
import { login, redisUsedMemory, seedRedis } from './sessions.js';

/** One kind of lab request, as the Redis commands an instance sent for it. */
export interface CommandMix {
  name: 'lookup' | 'rolling' | 'login' | 'logout';
  title: string;
  /** The commands, with the session id wherever it appeared replaced by ID_SLOT. */
  commands: string[][];
}

/** Stands for the session id in a captured command; same length as a real id, so RESP lengths hold. */
export const ID_SLOT = '\u0000'.repeat(32);

/** What the instances under test are: a plain one and one with SESSION_ROLLING=true, on the same Redis. */
export interface CaptureTarget {
  redisUrl: string;
  instanceUrl: string;
  rollingUrl: string;
  /** The session id inside a cookie (the bench's minter). */
  idOf(cookieHeader: string): string;
}

/** A capture that waits for Redis never hangs the bench: 10 s, then a clear error. */
function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`capturing the command mix: waited 10 s for ${what}`)), 10_000);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Replaces the session id in every argument (keys, user-index members) with ID_SLOT. */
export function templateOf(args: readonly string[], sessionId: string): string[] {
  if (sessionId.length !== ID_SLOT.length) throw new Error(`session ids are ${sessionId.length} characters, the slot ${ID_SLOT.length}`);
  return args.map((a) => a.split(sessionId).join(ID_SLOT));
}

/**
 * Watches Redis (MONITOR) while a real instance serves one login, one lookup, one lookup with
 * rolling: true, and one logout, and keeps what each sent: the exact command mix, whatever
 * the stores, throttle and user index do today. Commands run inside a script are left out
 * (the EVAL that ran them is in).
 */
export async function captureMixes(target: CaptureTarget): Promise<CommandMix[]> {
  const marker = new Redis(target.redisUrl, { lazyConnect: true });
  let monitor: Socket | undefined;
  try {
    await marker.connect();
    monitor = await openSocket(Number(new URL(target.redisUrl).port));
    return await capture(target, marker, monitor);
  } finally {
    monitor?.destroy();
    marker.disconnect();
  }
}

async function capture(target: CaptureTarget, marker: Redis, monitor: Socket): Promise<CommandMix[]> {
  const seen: string[][] = [];
  const waiting = new Map<string, () => void>();
  let buffered = '';
  let monitoring: () => void = () => undefined;
  const started = new Promise<void>((resolve) => (monitoring = resolve));
  monitor.setEncoding('latin1');
  monitor.on('data', (chunk: string) => {
    buffered += chunk;
    let end: number;
    while ((end = buffered.indexOf('\r\n')) >= 0) {
      const line = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      if (line === '+OK') monitoring();
      const parsed = parseMonitorLine(line);
      if (!parsed || parsed.source === 'lua') continue;
      const [command, first] = parsed.args;
      if (command?.toLowerCase() === 'echo' && first !== undefined && waiting.has(first)) waiting.get(first)!();
      // Health checks (the balancer's, GET /health -> PING) come at their own pace, not per request.
      else if (command?.toLowerCase() !== 'ping') seen.push(parsed.args);
    }
  });
  monitor.write(encodeCommand(['MONITOR']));
  // Commands sent before Redis has taken the MONITOR would never be seen.
  await within(started, 'MONITOR to start');
  // MONITOR lines arrive after the command ran: an ECHO after the request marks where its commands end.
  let n = 0;
  const during = async (action: () => Promise<unknown>): Promise<string[][]> => {
    await action();
    const mark = `coatcheck-mark-${n++}`;
    const arrived = new Promise<void>((resolve) => waiting.set(mark, resolve));
    await marker.echo(mark);
    await within(arrived, `the marker ${mark} to show in MONITOR`);
    return seen.splice(0);
  };
  await during(async () => undefined); // whatever came before the first request
  const get = async (url: string, cookie: string) => {
    const response = await fetch(`${url}/profile`, { headers: { cookie } });
    if (response.status !== 200) throw new Error(`capturing the command mix: GET /profile answered ${response.status}`);
  };
  let cookie = '';
  const loginCommands = await during(async () => (cookie = await login(target.instanceUrl)));
  const id = target.idOf(cookie);
  const lookup = await during(() => get(target.instanceUrl, cookie));
  // A client's first call of a script is not its steady state (ioredis sends the text once per
  // connection): the rolling instance serves one request before the one that is kept.
  await during(() => get(target.rollingUrl, cookie));
  const rolling = await during(() => get(target.rollingUrl, cookie));
  const logout = await during(async () => {
    const response = await fetch(`${target.instanceUrl}/logout`, { method: 'POST', headers: { cookie } });
    if (response.status !== 200) throw new Error(`capturing the command mix: POST /logout answered ${response.status}`);
  });
  const mix = (name: CommandMix['name'], title: string, commands: string[][]): CommandMix => ({
    name,
    title,
    commands: commands.map((c) => templateOf(c, id)),
  });
  return [
    mix('lookup', 'GET /profile (the lookup)', lookup),
    mix('rolling', 'GET /profile with rolling: true (lookup + write)', rolling),
    mix('login', 'POST /login (throttle, new session, user index)', loginCommands),
    mix('logout', 'POST /logout', logout),
  ];
}

export interface CapacityOptions {
  redisUrl: string;
  redisPid: number;
  /** Key prefix and session JSON for the sessions lookups find (a real login's). */
  keyPrefix: string;
  sessionJson: string;
  ttlSeconds: number;
  /** Sessions seeded for lookups and logouts to find. */
  sessions: number;
  connections: number;
  /** Requests (whole mixes) written at once on each connection. */
  pipeline: number;
  durationSec: number;
  warmupSec: number;
}

export interface CapacityResult {
  mix: CommandMix['name'];
  title: string;
  commandsPerRequest: number;
  requestsPerSec: number;
  commandsPerSec: number;
  /** redis-server's CPU: share of one core, and µs per request (a whole mix). */
  redisShare: number;
  redisUsPerRequest: number;
  /** 1e6 / redisUsPerRequest: requests of this mix one fully busy Redis core serves. */
  requestsPerRedisCore: number;
  /** The load generator (this process): when it is the busier one, Redis was not saturated. */
  clientShare: number;
  saturated: boolean;
  errors: number;
  /** Seconds measured: the logout run ends early once every seeded session is logged out. */
  wallSec: number;
}

/** Request bytes for one mix: the id slot filled with a seeded id (lookups, logouts) or a fresh one (logins). */
function requestMaker(mix: CommandMix, ids: string[]): { next(): string | null } {
  const parts = mix.commands.map(encodeCommand).join('').split(ID_SLOT);
  let i = 0;
  return {
    next() {
      if (mix.name === 'login') return parts.join(randomBytes(24).toString('base64url'));
      // Each seeded session is logged out once (deleting a key already gone is cheaper): the
      // logout run ends when they are all gone, or at its deadline. Lookups pick at random.
      if (mix.name === 'logout') return i < ids.length ? parts.join(ids[i++]!) : null;
      return parts.join(ids[Math.floor(Math.random() * ids.length)]!);
    },
  };
}

function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', noDelay: true }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** `connections` sockets, each writing `pipeline` requests and waiting for every reply, until the deadline. */
async function drive(port: number, mix: CommandMix, maker: ReturnType<typeof requestMaker>, options: CapacityOptions, seconds: number) {
  const sockets = await Promise.all(Array.from({ length: options.connections }, () => openSocket(port)));
  const deadline = performance.now() + seconds * 1000;
  let requests = 0;
  let errors = 0;
  try {
    await Promise.all(
      sockets.map(
        (socket) => {
          const counter = new ReplyCounter();
          return new Promise<void>((resolve, reject) => {
            let expected = 0;
            let pending = 0;
            const send = () => {
              if (performance.now() >= deadline) return resolve();
              let batch = '';
              let count = 0;
              for (let request; count < options.pipeline && (request = maker.next()) !== null; count++) batch += request;
              if (count === 0) return resolve();
              expected += mix.commands.length * count;
              pending = count;
              socket.write(batch);
            };
            socket.on('data', (chunk: Buffer) => {
              try {
                counter.push(chunk);
              } catch (err) {
                return reject(err as Error);
              }
              if (counter.replies < expected) return;
              requests += pending;
              send();
            });
            socket.once('error', reject);
            socket.once('close', () => resolve());
            send();
          }).finally(() => {
            errors += counter.errors.count;
          });
        },
      ),
    );
  } finally {
    for (const s of sockets) s.destroy();
  }
  return { requests, errors };
}

const fresh = (count: number) => Array.from({ length: count }, () => randomBytes(24).toString('base64url'));

/** Seeds the sessions, then drives each mix alone against one redis-server and reads its CPU. */
export async function measureCapacity(
  mixes: CommandMix[],
  options: CapacityOptions,
): Promise<{ results: CapacityResult[]; bytesPerSession: number }> {
  const ids = fresh(options.sessions);
  const port = Number(new URL(options.redisUrl).port);
  const results: CapacityResult[] = [];
  // The first seeding also says what a session costs Redis: used_memory grown, per session.
  const before = await redisUsedMemory(options.redisUrl);
  await seedRedis(options.redisUrl, options.keyPrefix, ids, options.sessionJson, options.ttlSeconds);
  const bytesPerSession = Math.round(((await redisUsedMemory(options.redisUrl)) - before) / ids.length);
  for (const mix of mixes) {
    // Every mix starts from the same logbook: the seeded sessions, all there.
    if (mix !== mixes[0]) await seedRedis(options.redisUrl, options.keyPrefix, ids, options.sessionJson, options.ttlSeconds);
    // The warm-up's logouts use up ids the measured run then no longer finds: it gets fresh ones.
    if (options.warmupSec > 0) await drive(port, mix, requestMaker(mix, mix.name === 'logout' ? fresh(options.sessions) : ids), options, options.warmupSec);
    const maker = requestMaker(mix, ids);
    const tracked: Tracked[] = [
      { name: 'redis', pid: options.redisPid },
      { name: 'client', pid: null },
    ];
    const stop = cpuWindow(tracked);
    const started = performance.now();
    const { requests, errors } = await drive(port, mix, maker, options, options.durationSec);
    const wall = (performance.now() - started) / 1000;
    const cpu = stop(wall, requests);
    const redis = cpu.redis ?? { share: 0, usPerRequest: 0 };
    results.push({
      mix: mix.name,
      title: mix.title,
      commandsPerRequest: mix.commands.length,
      requestsPerSec: round(requests / wall, 0),
      commandsPerSec: round((requests * mix.commands.length) / wall, 0),
      redisShare: redis.share,
      redisUsPerRequest: redis.usPerRequest,
      requestsPerRedisCore: redis.usPerRequest > 0 ? Math.round(1e6 / redis.usPerRequest) : 0,
      clientShare: cpu.client?.share ?? 0,
      saturated: redis.share >= CPU_BOUND_SHARE,
      errors,
      wallSec: round(wall, 2),
    });
  }
  return { results, bytesPerSession };
}
