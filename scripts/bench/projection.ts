/**
 * Turns one run's measured costs into what a deployment needs: a projection a reader can redo
 * by hand (docs/scaling.md shows the arithmetic).
 */
export interface MeasuredCosts {
  /** The lab instance's CPU µs per lookup (Redis store). */
  instanceUsPerLookup: number;
  /** redis-server's CPU µs per request of each mix. */
  redisUs: { lookup: number; rolling: number; login: number; logout: number };
  /** Redis used_memory per stored session. */
  bytesPerSession: number;
}

export interface Workload {
  activeUsers: number;
  requestsPerUserPerMinute: number;
  /** One refresh write per active user per this many seconds (half the idle timeout: routes/auth.ts). */
  refreshEverySec: number;
  /** One login and one logout per active user per this many seconds. */
  sessionLengthSec: number;
}

/** A core counts as full at this share: beyond it latency climbs before throughput does. */
export const TARGET_UTILISATION = 0.7;

export interface Projection {
  lookupsPerSec: number;
  instanceCores: number;
  redisCores: number;
  redisMemoryBytes: number;
  /** Whether one Redis (one core runs every command) still suffices. */
  oneRedis: boolean;
}

export function project(costs: MeasuredCosts, w: Workload): Projection {
  const lookups = (w.activeUsers * w.requestsPerUserPerMinute) / 60;
  const refreshes = w.activeUsers / w.refreshEverySec;
  const logins = w.activeUsers / w.sessionLengthSec;
  // A refresh is a lookup that also writes: the lookup is counted already, the write is the difference.
  const refreshWrite = Math.max(0, costs.redisUs.rolling - costs.redisUs.lookup);
  const redisUsPerSec = lookups * costs.redisUs.lookup + refreshes * refreshWrite + logins * (costs.redisUs.login + costs.redisUs.logout);
  const redisCores = redisUsPerSec / 1e6 / TARGET_UTILISATION;
  return {
    lookupsPerSec: lookups,
    instanceCores: (lookups * costs.instanceUsPerLookup) / 1e6 / TARGET_UTILISATION,
    redisCores,
    redisMemoryBytes: w.activeUsers * costs.bytesPerSession,
    oneRedis: redisCores <= 1,
  };
}
