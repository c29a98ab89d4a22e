/** Every knob of a bench run in one place; the CLI only picks a preset and overrides. */
export interface BenchSettings {
  /** Concurrent keep-alive connections from the load generator. */
  connections: number;
  /** Seconds measured per run. */
  durationSec: number;
  /** Seconds of load before each measured run (JIT, connection pools, caches), not recorded. */
  warmupSec: number;
  /** Measured runs per row; rows of a group alternate within each round. */
  rounds: number;
  /** Logged-in sessions whose cookies the load rotates through, one per request. */
  sessions: number;
  /** Instances behind the balancer (and behind nginx). */
  instances: number;
  /** Stored-session counts for the store-at-scale rows. */
  scale: number[];
}

/** The standard matrix: a few minutes on a 2-core machine. */
export const DEFAULTS: BenchSettings = {
  connections: 50,
  durationSec: 5,
  warmupSec: 1,
  rounds: 3,
  sessions: 256,
  instances: 2,
  scale: [1_000, 100_000, 1_000_000],
};

/** Seconds, for CI and a first look: the same code paths, figures too short to quote. */
export const QUICK: BenchSettings = {
  connections: 10,
  durationSec: 1,
  warmupSec: 0.3,
  rounds: 1,
  sessions: 8,
  instances: 2,
  scale: [1_000, 10_000],
};

/** A process this busy (share of one core) is the one that limits the row. */
export const CPU_BOUND_SHARE = 0.85;

/** What the docs claim of the ratios (measured side by side in one run); every run says whether each still holds. */
export const EXPECTED = {
  balancerVsNginx: 0.9,
  haproxyVsNginx: 0.9,
  /** The in-process store does less per lookup than a network round trip: it must not be slower. */
  memoryVsRedis: 1.0,
  largestVsSmallestScale: 0.9,
} as const;
