import { normalizeUsername } from '../accounts.js';
import type { AttemptCounter } from './types.js';

export interface ThrottleLimits {
  /** Failed logins allowed for one account from one client address, per window. */
  perAccountAndAddress: number;
  /** Attempts allowed from one client address, whatever the accounts, per window. */
  perAddress: number;
  windowSeconds: number;
}

/** Go ahead (and report the outcome with the ticket), or wait this long. */
export type ThrottleVerdict = { allowed: true; ticket: Ticket } | { allowed: false; retryAfterSeconds: number };

/** What a login attempt reserved, to settle once the password has been checked. */
export interface Ticket {
  pairKey: string;
  addressKey: string;
}

/**
 * The login throttle. An attempt takes its slot first, atomically, and only then is the
 * password checked: N concurrent guesses are N counts, so at most the limit of them ever
 * reach scrypt (a check-then-count throttle lets a burst through whole).
 *
 * What is counted, and why:
 * - per (account, client address): an address that keeps failing on one account is refused.
 * - per client address: an address spraying many accounts (or names) is refused.
 * - not per account alone: a stranger could then lock the owner out of their own account by
 *   failing on purpose. The owner, from an address with no recent failures, always gets in;
 *   the price is that an attacker with many addresses gets perAccountAndAddress guesses from each.
 *
 * Unknown usernames are counted exactly like real ones, so a 429 says nothing about which
 * accounts exist. A success clears its (account, address) counter and gives the address its
 * attempt back: logging in is not an attack, and many users may share one address (NAT).
 */
export class LoginThrottle {
  constructor(
    private readonly counter: () => AttemptCounter,
    private readonly limits: ThrottleLimits,
  ) {}

  async reserve(username: string, address: string): Promise<ThrottleVerdict> {
    // The address goes first: it never contains "|", so the key cannot be read two ways.
    const ticket = { pairKey: `try:${address}|${normalizeUsername(username)}`, addressKey: `ip:${address}` };
    const [pair, byAddress] = await this.counter().add([ticket.pairKey, ticket.addressKey], this.limits.windowSeconds);
    const waits = [
      pair && pair.count > this.limits.perAccountAndAddress ? pair.resetInSeconds : 0,
      byAddress && byAddress.count > this.limits.perAddress ? byAddress.resetInSeconds : 0,
    ];
    const wait = Math.max(...waits);
    return wait > 0 ? { allowed: false, retryAfterSeconds: wait } : { allowed: true, ticket };
  }

  /** The password was right: this was not a failure. */
  async succeeded(ticket: Ticket): Promise<void> {
    const counter = this.counter();
    await Promise.all([counter.clear(ticket.pairKey), counter.undo(ticket.addressKey)]);
  }
}
