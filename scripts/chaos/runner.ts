import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { dirname } from 'node:path';
import { AdminError } from '../../proxy/clients/admin-client.js';
import { startLab, type Lab } from '../lab.js';
import { writeFastAccounts } from '../simulate/accounts.js';
import { OwnRedis } from '../simulate/lab-driver.js';
import { createUsers, seededRandom } from '../simulate/population.js';
import type { VirtualUser } from '../simulate/virtual-user.js';
import { checkInvariants, faultName, type InvariantResult } from './invariants.js';
import type { AppliedFault, ChaosRecord, Leftovers, MemorySample, RequestEvent } from './record.js';
import { planFaults, type PlannedFault } from './schedule.js';

export interface ChaosOptions {
  seed: number;
  durationMs: number;
  instances?: number;
  /** Virtual users, each with its own cookie jar and 127.10.x.y address. */
  users?: number;
  /** Requests in flight at once, and each worker's pause between two of them. */
  concurrency?: number;
  pauseMs?: number;
  /** Ctrl-C: stop early, still clean up. */
  signal?: AbortSignal;
  /** A line for each fault as it starts and ends. */
  onProgress?: (line: string) => void;
  /** Every line the lab's processes print. */
  onLine?: (name: string, line: string) => void;
}

export interface ChaosReport {
  record: ChaosRecord;
  invariants: InvariantResult[];
  /** "200", "503", "0 ECONNRESET", ...: how many requests came to each. */
  statuses: Record<string, number>;
  interrupted: boolean;
}

// Faults are not started this close to the end: the last one must recover while traffic still runs.
const COOLDOWN_MS = 3000;
const RECOVERY_LIMIT_MS = 20_000;

/**
 * A seeded, bounded chaos run: a lab of its own in redis mode (Redis with appendonly, so a
 * restart keeps the sessions), virtual users clicking all along, and the planned faults one
 * after another. Records what happened; checkInvariants judges it.
 */
export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const { seed, durationMs, signal } = options;
  const instances = options.instances ?? 3;
  const progress = options.onProgress ?? (() => {});
  const planned = planFaults(seed, { durationMs, instances, cooldownMs: COOLDOWN_MS });
  const record: ChaosRecord = { seed, durationMs, planned, faults: [], requests: [], adminErrors: [], memory: [], leftovers: { processes: [], ports: [], dirs: [], checked: { processes: 0, ports: 0, dirs: 0 } } };
  const tracked = { processes: new Map<number, string>(), ports: new Set<number>(), dirs: new Set<string>() };
  const frozen = new Set<ChildProcess>();
  let lab: Lab | undefined;
  let redis: OwnRedis | undefined;
  let users: VirtualUser[] = [];
  const accounts = await writeFastAccounts();
  tracked.dirs.add(dirname(accounts.file));
  const t0 = performance.now();
  const now = () => Math.round(performance.now() - t0);

  try {
    redis = await OwnRedis.start(true);
    tracked.dirs.add(redis.dir);
    lab = await startLab({
      mode: 'redis',
      instances,
      port: 0,
      adminPort: 0,
      redisUrl: redis.url,
      instanceEnv: { LOG_LEVEL: 'warn', REDIS_KEY_PREFIX: `coatcheck:chaos:${randomBytes(4).toString('hex')}:`, ACCOUNTS_FILE: accounts.file },
      // Quick health checks, and a frozen instance costs a request 3 s, not 10.
      balancerEnv: { LOG_LEVEL: 'warn', HEALTH_INTERVAL_MS: '200', PROXY_TIMEOUT_MS: '3000' },
      onLine: (name, line) => options.onLine?.(name, line),
    });
    const running = lab;
    const ownRedis = redis;
    for (const url of [running.url, running.adminUrl, ownRedis.url]) tracked.ports.add(Number(new URL(url).port));

    const track = () => {
      tracked.processes.set(running.balancer.pid!, 'balancer');
      for (const i of running.instances) {
        tracked.processes.set(i.child.pid!, i.id);
        tracked.ports.add(i.port);
      }
      tracked.processes.set(ownRedis.server.process.pid!, 'redis');
    };
    const sampleMemory = () => {
      track();
      const at = now();
      const live: [string, number | undefined][] = [['balancer', running.balancer.pid], ...running.instances.map((i): [string, number | undefined] => [i.id, i.child.pid]), ['redis', ownRedis.server.process.pid]];
      for (const [name, pid] of live) {
        const rssMiB = residentMiB(pid);
        if (pid !== undefined && rssMiB !== null) record.memory.push({ at, process: name, pid, rssMiB } satisfies MemorySample);
      }
    };
    sampleMemory();
    const sampler = setInterval(sampleMemory, 1000);

    const stopTraffic = new AbortController();
    users = createUsers({ baseUrl: running.url, count: options.users ?? 12 });
    const traffic = runTraffic(users, {
      seed,
      concurrency: options.concurrency ?? 4,
      pauseMs: options.pauseMs ?? 100,
      now,
      signal: AbortSignal.any([stopTraffic.signal, ...(signal ? [signal] : [])]),
      onEvent: (event) => record.requests.push(event),
    });

    const admin = async <T>(action: string, call: () => Promise<T>): Promise<T | undefined> => {
      try {
        return await call();
      } catch (err) {
        record.adminErrors.push({ at: now(), action, status: err instanceof AdminError ? err.status : null, message: (err as Error).message });
        return undefined;
      }
    };
    /** Every instance in the rotation and on the lab's store (and the store answering). */
    const whole = async (): Promise<boolean> => {
      const deadline = performance.now() + RECOVERY_LIMIT_MS;
      while (performance.now() < deadline && !signal?.aborted) {
        const state = await admin('read the state', () => running.admin.state());
        if (state && state.instances.every((i) => i.up && i.store === state.store && i.storeOk !== false)) return true;
        await sleep(100, signal);
      }
      return false;
    };

    async function apply(fault: PlannedFault): Promise<Omit<AppliedFault, 'id' | 'kind' | 'start' | 'end' | 'recovered'>> {
      switch (fault.kind) {
        case 'crash':
        case 'sigterm': {
          const id = fault.target!;
          const back = running.waitForRestart(id);
          await running.killInstance(id, fault.kind === 'crash' ? 'SIGKILL' : 'SIGTERM');
          const restarted = await Promise.race([back, sleep(RECOVERY_LIMIT_MS, signal).then(() => null)]);
          return { target: id, ...(!restarted && { note: `${id} was not restarted` }) };
        }
        case 'slow': {
          const child = running.instances.find((i) => i.id === fault.target)!.child;
          child.kill('SIGSTOP');
          frozen.add(child);
          await sleep(fault.holdMs, signal);
          child.kill('SIGCONT');
          frozen.delete(child);
          return { target: fault.target! };
        }
        case 'redis-pause': {
          const paused = await admin('pause Redis', () => running.admin.pauseRedis(fault.holdMs / 1000));
          await sleep(fault.holdMs, signal);
          return { target: null, ...(!paused && { note: 'the admin API did not pause Redis' }) };
        }
        case 'redis-restart':
          await ownRedis.stop();
          await sleep(fault.holdMs, signal);
          await ownRedis.start();
          track();
          return { target: null };
        case 'mode': {
          const switched = await admin(`mode ${fault.mode}`, () => running.admin.setMode(fault.mode!));
          if (switched) await whole();
          await sleep(fault.holdMs, signal);
          const back = await admin('mode redis', () => running.admin.setMode('redis'));
          return { target: fault.mode!, ...(!(switched && back) && { note: 'a mode switch was refused' }) };
        }
        case 'scale': {
          const added = await running.addInstance().catch((err: Error) => {
            record.adminErrors.push({ at: now(), action: 'add an instance', status: err instanceof AdminError ? err.status : null, message: err.message });
            return null;
          });
          if (!added) return { target: null, note: 'no instance could be added' };
          track();
          await whole();
          await sleep(fault.holdMs, signal);
          await admin(`remove ${added.id}`, () => running.removeInstance(added.id));
          return { target: added.id };
        }
      }
    }

    let lastEnd = 0;
    for (const fault of planned) {
      if (signal?.aborted) break;
      await sleep(Math.max(fault.at, lastEnd + 1000) - now(), signal);
      if (signal?.aborted || now() + fault.holdMs > durationMs - COOLDOWN_MS) break;
      const start = now();
      progress(`${(start / 1000).toFixed(1)} s  ${faultName({ id: fault.id, kind: fault.kind, target: fault.target ?? fault.mode ?? null })}`);
      const outcome = await apply(fault);
      const recovered = (await whole()) && !outcome.note;
      lastEnd = now();
      const applied: AppliedFault = { id: fault.id, kind: fault.kind, start, end: lastEnd, recovered, ...outcome, ...(signal?.aborted && { interrupted: true }) };
      record.faults.push(applied);
      progress(`${(lastEnd / 1000).toFixed(1)} s  ${faultName(applied)} ${applied.interrupted ? 'interrupted' : `over${recovered ? '' : ': NOT recovered'}`}`);
    }
    await sleep(durationMs - now(), signal);
    stopTraffic.abort();
    await traffic;
    clearInterval(sampler);
    track();
  } finally {
    for (const child of frozen) child.kill('SIGCONT');
    for (const user of users) user.close();
    await lab?.close();
    await redis?.close();
    accounts.remove();
  }
  record.leftovers = await leftovers(tracked);
  const statuses: Record<string, number> = {};
  for (const r of record.requests) {
    const key = r.status === 0 ? `0 ${r.error ?? 'no answer'}` : String(r.status);
    statuses[key] = (statuses[key] ?? 0) + 1;
  }
  return { record, invariants: checkInvariants(record), statuses, interrupted: signal?.aborted ?? false };
}

/** Workers pick a random user (seeded) and make its next request: log in if it has no session, else click. */
async function runTraffic(
  users: VirtualUser[],
  options: { seed: number; concurrency: number; pauseMs: number; now: () => number; signal: AbortSignal; onEvent: (event: RequestEvent) => void },
): Promise<void> {
  const random = seededRandom(options.seed ^ 0x5eed);
  const idle = users.map((_, i) => i);
  const loginAt = new Map<number, number>();
  async function worker() {
    while (!options.signal.aborted) {
      const pick = Math.floor(random() * idle.length);
      const index = idle[pick]!;
      idle[pick] = idle[idle.length - 1]!;
      idle.pop();
      const user = users[index]!;
      const at = options.now();
      const kind = user.loggedIn ? (user.steps % 5 === 4 ? 'write' : 'read') : 'login';
      const outcome = kind === 'login' ? await user.login() : await user.step();
      const event: RequestEvent = { at, user: index, kind, status: outcome.status, servedBy: outcome.servedBy, error: outcome.error, retryAfter: outcome.retryAfter, latencyMs: Math.round(outcome.latencyMs) };
      if (kind === 'login' && outcome.status === 200) loginAt.set(index, at);
      if (outcome.loggedOut) {
        event.lostSession = { loginAt: loginAt.get(index) ?? 0, reason: outcome.reason };
        user.loggedIn = false; // log in again on its next turn, as a person would
      }
      options.onEvent(event);
      idle.push(index);
      await sleep(options.pauseMs, options.signal);
    }
  }
  await Promise.all(Array.from({ length: Math.min(options.concurrency, users.length) }, worker));
}

/** Resolves after ms, or at once when the signal aborts. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0 || signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** VmRSS from /proc (Linux); null elsewhere or when the process is gone. */
function residentMiB(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const kib = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kib ? Number(kib) / 1024 : null;
  } catch {
    return null;
  }
}

async function leftovers(tracked: { processes: Map<number, string>; ports: Set<number>; dirs: Set<string> }): Promise<Leftovers> {
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'EPERM';
    }
  };
  const ports = await Promise.all([...tracked.ports].map(async (port) => ((await accepts(port)) ? [port] : [])));
  return {
    processes: [...tracked.processes].filter(([pid]) => alive(pid)).map(([pid, name]) => ({ name, pid })),
    ports: ports.flat(),
    dirs: [...tracked.dirs].filter((dir) => existsSync(dir)),
    checked: { processes: tracked.processes.size, ports: tracked.ports.size, dirs: tracked.dirs.size },
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    socket.setTimeout(500);
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.once('timeout', () => done(false));
    socket.connect(port, '127.0.0.1');
  });
}
