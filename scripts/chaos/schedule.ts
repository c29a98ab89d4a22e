import { seededRandom } from '../simulate/population.js';

/**
 * What can go wrong, one at a time:
 * - crash: SIGKILL an instance; the launcher restarts it on its port, with an empty memory store.
 * - sigterm: a graceful stop (drain, exit 0), restarted the same way.
 * - slow: SIGSTOP an instance for holdMs, then SIGCONT: a frozen process, not a dead one.
 * - redis-pause: CLIENT PAUSE for holdMs (whole seconds): every client waits.
 * - redis-restart: Redis stopped (it writes its append-only file), down for holdMs, started again.
 * - mode: the lab switched to `mode` for holdMs, then back to redis.
 * - scale: one more instance added, and removed again after holdMs.
 */
export type FaultKind = 'crash' | 'sigterm' | 'slow' | 'redis-pause' | 'redis-restart' | 'mode' | 'scale';
export const FAULT_KINDS: readonly FaultKind[] = ['crash', 'sigterm', 'slow', 'redis-pause', 'redis-restart', 'mode', 'scale'];

export interface PlannedFault {
  /** 1, 2, 3, ... in schedule order: how the report names it ("fault 3 redis-restart"). */
  id: number;
  kind: FaultKind;
  /** When to start it, in ms from the start of the run (later if the one before took longer). */
  at: number;
  /** How long the fault itself lasts; recovery comes on top. */
  holdMs: number;
  /** The instance it hits (crash, sigterm, slow). */
  target?: string;
  /** The mode it switches to (mode). */
  mode?: 'memory' | 'sticky';
}

export interface ScheduleOptions {
  durationMs: number;
  /** Instances app-1..app-N that faults may hit. */
  instances: number;
  /** Traffic only, before the first fault and after the last one. */
  warmupMs?: number;
  cooldownMs?: number;
}

// How long a fault is expected to take to recover from, for planning only: a restarted
// instance (fork + tsx + ready) takes a second or two on a busy machine.
const RECOVERY_MS: Record<FaultKind, number> = {
  crash: 2500,
  sigterm: 4000,
  slow: 1500,
  'redis-pause': 1000,
  'redis-restart': 1500,
  mode: 1000,
  scale: 3000,
};

/**
 * The fault schedule of a run: a pure function of the seed and the options, so the same seed
 * gives the same faults, in the same order, with the same targets and holds. Faults never
 * overlap (each one's effects can be told apart), and the kinds come in shuffled rounds, so even
 * a short run sees different ones.
 */
export function planFaults(seed: number, options: ScheduleOptions): PlannedFault[] {
  const random = seededRandom(seed);
  const between = (min: number, max: number) => min + Math.floor(random() * (max - min + 1));
  const warmupMs = options.warmupMs ?? 3000;
  const cooldownMs = options.cooldownMs ?? 4000;
  const faults: PlannedFault[] = [];
  let round: FaultKind[] = [];
  let at = warmupMs;
  for (;;) {
    if (round.length === 0) round = shuffle([...FAULT_KINDS], random);
    const kind = round.pop()!;
    const holdMs = holdFor(kind, between);
    if (at + holdMs + RECOVERY_MS[kind] > options.durationMs - cooldownMs) break;
    const fault: PlannedFault = { id: faults.length + 1, kind, at, holdMs };
    if (kind === 'crash' || kind === 'sigterm' || kind === 'slow') fault.target = `app-${between(1, options.instances)}`;
    if (kind === 'mode') fault.mode = random() < 0.5 ? 'memory' : 'sticky';
    faults.push(fault);
    at += holdMs + RECOVERY_MS[kind] + between(1500, 3000);
  }
  return faults;
}

function holdFor(kind: FaultKind, between: (min: number, max: number) => number): number {
  switch (kind) {
    case 'crash':
    case 'sigterm':
      return 0;
    case 'slow':
      return between(1500, 3000);
    case 'redis-pause':
      return between(1, 3) * 1000;
    case 'redis-restart':
      return between(500, 1500);
    case 'mode':
    case 'scale':
      return between(2000, 4000);
  }
}

/** Fisher-Yates with the run's generator. */
function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}
