import type { StoreKind, RoutingKind } from '../../services/vocabulary.js';
import { fnv1a, hashRing, ringLookup } from '../../proxy/balancer/strategies.js';

/**
 * What theory expects of one phase of a run, as a mix of three kinds of user:
 * - `lost`: every request finds no session (its wristband's logbook is gone, or the
 *   balancer now sends it to a desk that never saw it);
 * - `random`: each request lands on a random instance and misses with chance `miss`;
 * - the rest are safe: every request finds the session.
 * Pure arithmetic, no sockets: the simulator prints it beside what it measured.
 */
export interface PhaseModel {
  lost: number;
  random: number;
  miss: number;
  /** The formula, in the lesson's terms (N = instances). */
  formula: string;
}

const SAFE = (formula: string): PhaseModel => ({ lost: 0, random: 0, miss: 0, formula });
/** Stateless mode: no instance has to know the session, so no routing and no event can lose it. */
const CARD = '0: the card carries the session';

/**
 * A copy of each user's cookie, taken before logout, replayed after it: the share of replays
 * refused (a 401 is the good outcome here). A logbook forgets the session where the logout lands;
 * a sealed card is forgotten nowhere unless a revocation list records it.
 */
export function afterReplay(routing: RoutingKind, store: StoreKind, instances: number, revocation: boolean): PhaseModel {
  const REFUSED = (formula: string): PhaseModel => ({ lost: 1, random: 0, miss: 0, formula });
  if (store === 'sealed') return revocation ? REFUSED('all refused: the card is on the revocation list') : SAFE('0 refused: the card is still valid');
  if (store === 'redis') return REFUSED('all refused: the shared logbook forgot it');
  if (pins(routing)) return REFUSED('all refused: logout reached the one logbook');
  // The logout lands on the home instance 1 time in N; otherwise the home logbook keeps the
  // session, and a replay finds it whenever it lands there (1 time in N).
  const n = instances;
  return { lost: 1 / n, random: (n - 1) / n, miss: (n - 1) / n, formula: `1/N + ((N-1)/N)^2 = ${fraction(n + (n - 1) ** 2, n * n)} refused` };
}

/** a/b as text, reduced: 6/9 -> 2/3. */
export function fraction(a: number, b: number): string {
  const gcd = (x: number, y: number): number => (y === 0 ? x : gcd(y, x % y));
  const d = gcd(a, b) || 1;
  return `${a / d}/${b / d}`;
}

/** The routings that send one client to one instance every time (until the pool changes). */
export function pins(routing: RoutingKind): boolean {
  return routing !== 'round-robin';
}

/** Expected share of follow-up requests answered 401 in this phase. */
export function phaseRate(model: PhaseModel): number {
  return model.lost + model.random * model.miss;
}

/** Chance that one user gets through `requests` follow-ups of this phase without a 401. */
export function unaffectedChance(model: PhaseModel, requests: number): number {
  if (requests <= 0) return 1;
  const safe = 1 - model.lost - model.random;
  return safe + model.random * (1 - model.miss) ** requests;
}

/**
 * Share of users who get at least one 401 over several phases. Assumes phases are
 * independent, which holds when at most one phase mixes kinds of user (every scenario here).
 */
export function expectedUsersAffected(phases: { model: PhaseModel; requestsPerUser: number }[]): number {
  return 1 - phases.reduce((p, { model, requestsPerUser }) => p * unaffectedChance(model, requestsPerUser), 1);
}

/** Share of 401s over a whole run: each phase's rate weighted by the requests it had. */
export function expectedRate(phases: { model: PhaseModel; requests: number }[]): number {
  const total = phases.reduce((n, p) => n + p.requests, 0);
  if (total === 0) return 0;
  return phases.reduce((sum, p) => sum + phaseRate(p.model) * p.requests, 0) / total;
}

/**
 * Steady state, nothing breaks. Round robin over N per-instance logbooks: a request
 * finds its session only on the one instance that wrote it, so it misses (N-1)/N of the time.
 */
export function steady(routing: RoutingKind, store: StoreKind, instances: number): PhaseModel {
  if (store === 'sealed') return SAFE(CARD);
  if (store === 'redis') return SAFE('0: one shared logbook');
  if (!pins(routing)) return { lost: 0, random: 1, miss: (instances - 1) / instances, formula: `(N-1)/N = ${fraction(instances - 1, instances)}` };
  return SAFE('0: pinned to its logbook');
}

/**
 * One of N instances is killed and restarted with an empty memory store. Its 1/N of
 * the sessions are gone (`lostShare`: the share that was really on it, if known); with
 * round robin everyone else still misses (N-1)/N.
 */
export function afterKill(routing: RoutingKind, store: StoreKind, instances: number, lostShare?: number): PhaseModel {
  if (store === 'sealed') return SAFE(CARD);
  if (store === 'redis') return SAFE('0: the logbook is in Redis');
  const lost = lostShare ?? 1 / instances;
  if (!pins(routing)) {
    return { lost, random: 1 - lost, miss: (instances - 1) / instances, formula: `1/N + ((N-1)/N)^2 = ${fraction(instances + (instances - 1) ** 2, instances ** 2)}` };
  }
  return { lost, random: 0, miss: 0, formula: `1/N = ${fraction(1, instances)}: its users` };
}

/** Share of clients that modulo hashing (ip-hash) sends elsewhere when N grows to N+1. */
export function moduloRemapShare(instances: number): number {
  return instances / (instances + 1);
}

/** Share of clients a consistent-hash ring sends elsewhere when N grows to N+1: the new node's arc. */
export function ringRemapShare(instances: number): number {
  return 1 / (instances + 1);
}

/**
 * One instance is added to N. Round robin now spreads over N+1 instances, the new one
 * with an empty logbook. Hash routing moves some clients to a desk that never saw them;
 * `remapped` is the measured share for the actual addresses, if known.
 */
export function afterScaleOut(routing: RoutingKind, store: StoreKind, instances: number, remapped?: number): PhaseModel {
  if (store === 'sealed') return SAFE(CARD);
  if (store === 'redis') return SAFE('0: the logbook is in Redis');
  switch (routing) {
    case 'round-robin':
      return { lost: 0, random: 1, miss: instances / (instances + 1), formula: `N/(N+1) = ${fraction(instances, instances + 1)}` };
    case 'cookie':
      return SAFE('0: cookies still pin');
    case 'ip-hash':
      return { lost: remapped ?? moduloRemapShare(instances), random: 0, miss: 0, formula: `N/(N+1) = ${fraction(instances, instances + 1)} of users move` };
    case 'consistent-hash':
      return { lost: remapped ?? ringRemapShare(instances), random: 0, miss: 0, formula: `1/(N+1) = ${fraction(1, instances + 1)} of users move` };
  }
}

/** Redis restarts: without persistence its memory, every session, is gone; with appendonly it reloads them. */
export function afterRedisRestart(persistent: boolean): PhaseModel {
  return persistent ? SAFE('0: reloaded from the AOF') : { lost: 1, random: 0, miss: 0, formula: '1: every session gone' };
}

/**
 * The exact share of these client addresses that ip-hash (fnv1a modulo the pool size)
 * sends to another instance when the pool grows from `instances` to `instances + 1`.
 */
export function moduloRemapFor(addresses: readonly string[], instances: number): number {
  if (addresses.length === 0) return 0;
  const moved = addresses.filter((a) => fnv1a(a) % instances !== fnv1a(a) % (instances + 1)).length;
  return moved / addresses.length;
}

/** The same for the consistent-hash ring, given the instance ids before and after. */
export function ringRemapFor(addresses: readonly string[], before: readonly string[], after: readonly string[]): number {
  if (addresses.length === 0) return 0;
  const ringBefore = hashRing(before);
  const ringAfter = hashRing(after);
  const moved = addresses.filter((a) => ringLookup(ringBefore, a) !== ringLookup(ringAfter, a)).length;
  return moved / addresses.length;
}
