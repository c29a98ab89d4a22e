import type { Outcome, VirtualUser } from './virtual-user.js';

export interface InstanceCount {
  requests: number;
  loggedOut: number;
}

export interface LatencySummary {
  p50: number;
  p99: number;
  max: number;
}

/** Counts what the follow-up requests of one phase came to. */
export class Tally {
  requests = 0;
  loggedOut = 0;
  /** No answer, or a 5xx: not the bug under study, but never to be hidden. */
  errors = 0;
  cookieCleared = 0;
  logins = { ok: 0, failed: 0 };
  readonly statuses: Record<string, number> = {};
  /** What the errors were: "503 store_unavailable", "0 ECONNRESET", ... */
  readonly failures: Record<string, number> = {};
  readonly perInstance: Record<string, InstanceCount> = {};
  readonly affected = new Set<VirtualUser>();
  readonly latencies: number[] = [];

  addLogin(outcome: Outcome): void {
    if (outcome.status === 200) this.logins.ok++;
    else this.logins.failed++;
    if (outcome.cookieCleared) this.cookieCleared++;
  }

  add(user: VirtualUser, outcome: Outcome): void {
    this.requests++;
    this.statuses[outcome.status] = (this.statuses[outcome.status] ?? 0) + 1;
    this.latencies.push(outcome.latencyMs);
    const instance = outcome.servedBy ?? 'balancer';
    const count = (this.perInstance[instance] ??= { requests: 0, loggedOut: 0 });
    count.requests++;
    if (outcome.loggedOut) {
      this.loggedOut++;
      count.loggedOut++;
      this.affected.add(user);
    }
    if (outcome.status === 0 || outcome.status >= 500) {
      this.errors++;
      const key = `${outcome.status} ${outcome.error ?? 'unknown'}`;
      this.failures[key] = (this.failures[key] ?? 0) + 1;
    }
    if (outcome.cookieCleared) this.cookieCleared++;
  }

  latency(): LatencySummary {
    if (this.latencies.length === 0) return { p50: 0, p99: 0, max: 0 };
    const sorted = [...this.latencies].sort((a, b) => a - b);
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
    const round = (ms: number) => Math.round(ms * 10) / 10;
    return { p50: round(at(0.5)), p99: round(at(0.99)), max: round(sorted[sorted.length - 1]!) };
  }
}
