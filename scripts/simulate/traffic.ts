import { Tally } from './tally.js';
import type { VirtualUser } from './virtual-user.js';

export interface PhaseOptions {
  /** Requests in flight at once, at most. */
  concurrency: number;
  /** Log each user in first (the first phase). */
  login?: boolean;
  /** Follow-up requests per user. */
  steps?: number;
  /** Or: keep going for this long (for an outage window), bounded by maxRequests. */
  durationMs?: number;
  maxRequests?: number;
  random: () => number;
  /** Called after every request, for a progress bar. */
  onRequest?: () => void;
}

/**
 * Runs one phase: each worker picks a random idle user and makes its next request.
 * Random picking matters: with users served in a fixed cycle, a round robin whose
 * period divides the cycle would send each user to the same instance every time,
 * hiding the very bug the lab is about.
 */
export async function runPhase(users: readonly VirtualUser[], options: PhaseOptions): Promise<Tally> {
  const tally = new Tally();
  const timed = options.durationMs !== undefined;
  const deadline = timed ? performance.now() + options.durationMs! : Infinity;
  const cap = options.maxRequests ?? Infinity;
  const remaining = new Map<VirtualUser, number>();
  for (const user of users) {
    if (!options.login && !user.loggedIn) continue; // never logged in: nothing to follow up
    remaining.set(user, timed ? Infinity : (options.steps ?? 0) + (options.login ? 1 : 0));
  }
  const idle = [...remaining.keys()].filter((u) => remaining.get(u)! > 0);
  let started = 0;

  async function worker(): Promise<void> {
    while (idle.length > 0 && performance.now() < deadline && started < cap) {
      const index = Math.floor(options.random() * idle.length);
      const user = idle[index]!;
      idle[index] = idle[idle.length - 1]!;
      idle.pop();
      started++;
      let left = remaining.get(user)! - 1;
      if (options.login && !user.loggedIn) {
        const outcome = await user.login();
        tally.addLogin(outcome);
        if (outcome.status !== 200) left = 0; // could not log in: this user sits the run out
      } else {
        tally.add(user, await user.step());
        options.onRequest?.();
      }
      remaining.set(user, left);
      if (left > 0) idle.push(user);
    }
  }

  const workers = Math.max(1, Math.min(options.concurrency, idle.length));
  await Promise.all(Array.from({ length: workers }, () => worker()));
  return tally;
}
