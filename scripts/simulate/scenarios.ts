import { modeOf, type StoreKind, type ModeName, type RoutingKind } from '../../services/vocabulary.js';
import { SimulationError, type LabDriver } from './lab-driver.js';
import { createUsers, seededRandom } from './population.js';
import type { InstanceCount, LatencySummary, Tally } from './tally.js';
import {
  afterKill,
  afterRedisRestart,
  afterReplay,
  afterScaleOut,
  expectedRate,
  expectedUsersAffected,
  moduloRemapFor,
  phaseRate,
  ringRemapFor,
  steady,
  type PhaseModel,
} from './theory.js';
import { runPhase } from './traffic.js';
import { VirtualUser } from './virtual-user.js';

export type ScenarioName = 'steady' | 'kill-instance' | 'scale-out' | 'redis-restart' | 'redis-down' | 'replay';
export const SCENARIO_NAMES: readonly ScenarioName[] = ['kill-instance', 'scale-out', 'redis-restart', 'redis-down', 'replay'];

/** One line of a table: a routing and a store (and, for Redis scenarios, its persistence). */
export interface Variant {
  label: string;
  routing: RoutingKind;
  store: StoreKind;
  /** Redis scenarios: run against a Redis with (true) or without (false) appendonly. */
  appendOnly?: boolean;
  /** Stateless variants: the lab's instances keep a revocation list in Redis (REVOCATION=redis). */
  revocation?: boolean;
}

export const VARIANTS = {
  memory: { label: 'memory', routing: 'round-robin', store: 'memory' },
  sticky: { label: 'sticky', routing: 'cookie', store: 'memory' },
  'ip-hash': { label: 'ip-hash', routing: 'ip-hash', store: 'memory' },
  'consistent-hash': { label: 'consistent-hash', routing: 'consistent-hash', store: 'memory' },
  redis: { label: 'redis', routing: 'round-robin', store: 'redis' },
  'redis-volatile': { label: 'redis, no persistence', routing: 'round-robin', store: 'redis', appendOnly: false },
  'redis-aof': { label: 'redis, appendonly', routing: 'round-robin', store: 'redis', appendOnly: true },
  stateless: { label: 'stateless', routing: 'round-robin', store: 'sealed' },
  'stateless-sticky': { label: 'stateless, cookie affinity', routing: 'cookie', store: 'sealed' },
  'stateless-ip-hash': { label: 'stateless, ip-hash', routing: 'ip-hash', store: 'sealed' },
  'stateless-consistent-hash': { label: 'stateless, consistent-hash', routing: 'consistent-hash', store: 'sealed' },
} satisfies Record<string, Variant>;
export type VariantName = keyof typeof VARIANTS;

/** The variants each scenario runs: every one where the scenario says something. */
export const SCENARIO_VARIANTS: Record<ScenarioName | 'compare', VariantName[]> = {
  compare: ['memory', 'sticky', 'ip-hash', 'consistent-hash', 'redis', 'stateless', 'stateless-sticky', 'stateless-ip-hash', 'stateless-consistent-hash'],
  steady: ['memory'],
  'kill-instance': ['memory', 'sticky', 'redis', 'stateless'],
  'scale-out': ['memory', 'sticky', 'ip-hash', 'consistent-hash', 'redis', 'stateless'],
  // Each user's cookie copied before logout and replayed after it: what logout really ends.
  replay: ['memory', 'sticky', 'redis', 'stateless'],
  'redis-restart': ['redis-volatile', 'redis-aof'],
  // The same sessions must work after the outage, so Redis must keep them across its restart.
  'redis-down': ['redis-aof'],
};

export interface SimulationOptions {
  users: number;
  /** Follow-up requests per user (after its one login). */
  requests: number;
  concurrency: number;
  seed: number;
  /** redis-down: how long Redis stays stopped. */
  outageMs: number;
  /** kill-instance: which instance dies (default: the first). */
  killId?: string;
  onRequest?: () => void;
}

/** The lesson's figures, for a whole run and for each phase of it. */
interface LogoutFigures {
  /** Follow-up requests (logins not counted). */
  requests: number;
  loggedOut: number;
  loggedOutRate: number;
  expectedRate: number;
  /** For a whole run: the formula of the phase that matters (steady state, or after the event). */
  formula: string;
  usersAffected: number;
}

export interface PhaseReport extends LogoutFigures {
  name: 'steady' | 'before' | 'outage' | 'after';
  /** No answer or a 5xx. */
  errors: number;
  /** The errors by status and code, e.g. {"503 store_unavailable": 12}. */
  failures: Record<string, number>;
  statuses: Record<string, number>;
  /** Answers that told the browser to drop its session cookie. */
  cookieCleared: number;
  latencyMs: LatencySummary;
}

export interface SimulationReport extends LogoutFigures {
  scenario: ScenarioName;
  variant: string;
  mode: ModeName | null;
  routing: RoutingKind;
  store: StoreKind;
  /** Instances when the users logged in; instancesAfter differs after scale-out. */
  instances: number;
  instancesAfter: number;
  event: string | null;
  users: number;
  logins: { ok: number; failed: number };
  expectedUsersAffected: number;
  /** Users whose session their home instance (or Redis) no longer has, asked directly at the end. */
  sessionsLost: number;
  expectedSessionsLost: number;
  perInstance: Record<string, InstanceCount>;
  errors: number;
  phases: PhaseReport[];
  durationMs: number;
}

const round = (x: number, digits = 4) => Math.round(x * 10 ** digits) / 10 ** digits;
const rate = (part: number, whole: number) => (whole === 0 ? 0 : round(part / whole));

function phaseReport(name: PhaseReport['name'], tally: Tally, model: PhaseModel): PhaseReport {
  return {
    name,
    requests: tally.requests,
    loggedOut: tally.loggedOut,
    loggedOutRate: rate(tally.loggedOut, tally.requests),
    expectedRate: round(phaseRate(model)),
    formula: model.formula,
    usersAffected: tally.affected.size,
    errors: tally.errors,
    failures: { ...tally.failures },
    statuses: { ...tally.statuses },
    cookieCleared: tally.cookieCleared,
    latencyMs: tally.latency(),
  };
}

/**
 * A second browser per user holding a copy of its cookies (the stolen wristband or card), then the
 * user's own logout. The copies count as logged in: a 401 to them is a refused replay.
 */
async function copyAndLogOut(loggedIn: VirtualUser[], baseUrl: string, concurrency: number): Promise<VirtualUser[]> {
  const copies = loggedIn.map((user) => {
    const copy = new VirtualUser({ baseUrl, username: user.username, password: '', ...(user.localAddress && { localAddress: user.localAddress }) });
    for (const [name, value] of user.cookies) copy.cookies.set(name, value);
    copy.loggedIn = true;
    copy.homeInstance = user.homeInstance;
    return copy;
  });
  const queue = [...loggedIn];
  await Promise.all(
    Array.from({ length: Math.min(concurrency, queue.length) }, async () => {
      for (let user = queue.pop(); user; user = queue.pop()) await user.logout();
    }),
  );
  return copies;
}

/** Asks each user's home instance directly whether it still has the session. */
async function countLostSessions(users: VirtualUser[], instanceUrls: Map<string, string>, concurrency: number): Promise<number> {
  let lost = 0;
  const queue = users.filter((u) => u.loggedIn && u.homeInstance !== null);
  await Promise.all(
    Array.from({ length: Math.min(concurrency, queue.length) }, async () => {
      for (let user = queue.pop(); user; user = queue.pop()) {
        const url = instanceUrls.get(user.homeInstance!);
        if (!url) continue;
        const outcome = await user.probe(url);
        if (outcome.status === 401) lost++;
      }
    }),
  );
  return lost;
}

interface Phase {
  name: PhaseReport['name'];
  tally: Tally;
  model: PhaseModel;
}

/** Runs one variant of one scenario against the lab and reports what it measured beside the theory. */
export async function runVariant(
  driver: LabDriver,
  scenario: ScenarioName,
  variant: Variant,
  options: SimulationOptions,
): Promise<SimulationReport> {
  const redis = driver.redis;
  if (variant.appendOnly !== undefined || scenario === 'redis-restart' || scenario === 'redis-down') {
    if (!redis) throw new SimulationError(`${scenario} stops and restarts Redis, so it needs a lab the simulator starts itself: drop --url`);
    if (variant.appendOnly !== undefined && redis.appendOnly !== variant.appendOnly) await redis.replace(variant.appendOnly);
  }
  await driver.configure(variant.routing, variant.store);
  const before = (await driver.state()).instances.filter((i) => i.up);
  const n = before.length;
  const random = seededRandom(options.seed);
  const users = createUsers({ baseUrl: driver.url, count: options.users });
  const started = performance.now();
  const common = { concurrency: options.concurrency, random, ...(options.onRequest && { onRequest: options.onRequest }) };
  const half = scenario === 'steady' ? options.requests : Math.ceil(options.requests / 2);
  const phases: Phase[] = [];
  let event: string | null = null;
  let expectedSessionsLost = 0;
  let added: string | null = null;
  // Who makes the requests after the event: the users, or (replay) the copies of their cookies.
  let afterUsers = users;

  try {
    const first = await runPhase(users, { ...common, login: true, steps: half });
    const loggedIn = users.filter((u) => u.loggedIn);
    if (scenario === 'steady') {
      phases.push({ name: 'steady', tally: first, model: steady(variant.routing, variant.store, n) });
    } else {
      phases.push({ name: 'before', tally: first, model: steady(variant.routing, variant.store, n) });
      let afterModel: PhaseModel;
      switch (scenario) {
        case 'kill-instance': {
          const victim = options.killId ?? before[0]!.id;
          if (!before.some((i) => i.id === victim)) throw new SimulationError(`--kill: no instance ${victim} (have ${before.map((i) => i.id).join(', ')})`);
          await driver.kill(victim);
          event = `${victim} killed (SIGKILL), restarted empty`;
          // The victim's share of the sessions, as the logins placed them (1/N on average).
          const onVictim = loggedIn.filter((u) => u.homeInstance === victim).length;
          afterModel = afterKill(variant.routing, variant.store, n, onVictim / Math.max(1, loggedIn.length));
          if (variant.store === 'memory') expectedSessionsLost = onVictim;
          break;
        }
        case 'scale-out': {
          added = await driver.addInstance();
          event = `${added} added (${n} -> ${n + 1} instances)`;
          const addresses = loggedIn.map((u) => u.localAddress ?? '127.0.0.1');
          const ids = before.map((i) => i.id);
          const remapped =
            variant.routing === 'ip-hash'
              ? moduloRemapFor(addresses, n)
              : variant.routing === 'consistent-hash'
                ? ringRemapFor(addresses, ids, [...ids, added])
                : undefined;
          afterModel = afterScaleOut(variant.routing, variant.store, n, remapped);
          break;
        }
        case 'redis-restart': {
          await redis!.stop();
          await redis!.start();
          await driver.waitSynced('redis');
          event = 'Redis restarted (SIGTERM, then started again on the same port and data directory)';
          afterModel = afterRedisRestart(redis!.appendOnly);
          if (!redis!.appendOnly) expectedSessionsLost = loggedIn.length;
          break;
        }
        case 'redis-down': {
          await redis!.stop();
          const down = performance.now();
          const outage = await runPhase(users, {
            ...common,
            durationMs: options.outageMs,
            maxRequests: 10 * options.users * options.requests,
          });
          // Down for the whole window, even if the request budget ran out first.
          await new Promise((r) => setTimeout(r, Math.max(0, options.outageMs - (performance.now() - down))));
          await redis!.start();
          await driver.waitSynced('redis');
          event = `Redis stopped for ${options.outageMs / 1000} s, then started again (appendonly)`;
          // During the outage nobody is logged out: every answer should be a quick 503.
          phases.push({ name: 'outage', tally: outage, model: { lost: 0, random: 0, miss: 0, formula: '0: 503, cookie kept' } });
          afterModel = afterRedisRestart(true);
          break;
        }
        case 'replay': {
          afterUsers = await copyAndLogOut(loggedIn, driver.url, options.concurrency);
          event = "each user's cookies copied, then the user logged out; the copies replayed";
          afterModel = afterReplay(variant.routing, variant.store, n, variant.revocation === true);
          break;
        }
      }
      phases.push({ name: 'after', tally: await runPhase(afterUsers, { ...common, steps: options.requests - half }), model: afterModel });
    }

    const instanceUrls = new Map((await driver.state()).instances.map((i) => [i.id, i.url]));
    const instancesAfter = instanceUrls.size;
    const sessionsLost = await countLostSessions(users, instanceUrls, options.concurrency);
    const reports = phases.map((p) => phaseReport(p.name, p.tally, p.model));
    const perInstance: Record<string, InstanceCount> = {};
    const affected = new Set<VirtualUser>();
    for (const { tally } of phases) {
      for (const [id, count] of Object.entries(tally.perInstance)) {
        const into = (perInstance[id] ??= { requests: 0, loggedOut: 0 });
        into.requests += count.requests;
        into.loggedOut += count.loggedOut;
      }
      for (const user of tally.affected) affected.add(user);
    }
    const requests = reports.reduce((s, p) => s + p.requests, 0);
    const loggedOut = reports.reduce((s, p) => s + p.loggedOut, 0);
    const counted = phases.filter((p) => p.name !== 'outage');
    const perUser = Math.max(1, loggedIn.length);
    return {
      scenario,
      variant: variant.label,
      mode: modeOf(variant.routing, variant.store),
      routing: variant.routing,
      store: variant.store,
      instances: n,
      instancesAfter,
      event,
      users: options.users,
      logins: first.logins,
      requests,
      loggedOut,
      loggedOutRate: rate(loggedOut, requests),
      expectedRate: round(expectedRate(phases.map((p) => ({ model: p.model, requests: p.tally.requests })))),
      formula: phases[phases.length - 1]!.model.formula,
      usersAffected: affected.size,
      expectedUsersAffected: Math.round(
        loggedIn.length * expectedUsersAffected(counted.map((p) => ({ model: p.model, requestsPerUser: p.tally.requests / perUser }))),
      ),
      sessionsLost,
      expectedSessionsLost,
      perInstance,
      errors: reports.reduce((s, p) => s + p.errors, 0),
      phases: reports,
      durationMs: Math.round(performance.now() - started),
    };
  } finally {
    for (const user of new Set([...users, ...afterUsers])) user.close();
    // Back to N instances for the next variant.
    if (added) await driver.removeInstance(added);
  }
}
