import { normalizeUsername } from './accounts.js';
import type { LabStore } from './stores/types.js';

export interface ThrottleLimits {
  perAccount: number;
  perAddress: number;
  windowSeconds: number;
}

/** Seconds to wait before trying again, when a limit is reached. */
export type ThrottleVerdict = { blocked: false } | { blocked: true; retryAfterSeconds: number };

/**
 * Counts failed logins per account and per client address, in the session store's
 * own place: Redis when the store is Redis (so all instances count together), this
 * instance's memory otherwise (so each instance counts alone, and an attacker behind
 * a round robin gets N times the attempts: the same trap as the memory logbook).
 *
 * Unknown usernames are counted too, so a 429 says nothing about which accounts exist.
 */
export class LoginThrottle {
  constructor(
    private readonly store: LabStore,
    private readonly limits: ThrottleLimits,
  ) {}

  private keys(username: string, address: string): [string, string] {
    return [`user:${normalizeUsername(username)}`, `ip:${address}`];
  }

  private verdict(counts: { count: number; resetInSeconds: number }[]): ThrottleVerdict {
    const [account, address] = counts;
    const blocked = [
      account && account.count >= this.limits.perAccount ? account.resetInSeconds : 0,
      address && address.count >= this.limits.perAddress ? address.resetInSeconds : 0,
    ];
    const wait = Math.max(...blocked);
    return wait > 0 ? { blocked: true, retryAfterSeconds: wait } : { blocked: false };
  }

  /** Checked before the password, so a throttled guess costs no scrypt and learns nothing. */
  async check(username: string, address: string): Promise<ThrottleVerdict> {
    return this.verdict(await this.store.failures(this.keys(username, address)));
  }

  async failed(username: string, address: string): Promise<void> {
    await this.store.addFailure(this.keys(username, address), this.limits.windowSeconds);
  }

  /** A correct password clears the account's counter; the address keeps its count. */
  async succeeded(username: string): Promise<void> {
    await this.store.clearFailures(`user:${normalizeUsername(username)}`);
  }
}
