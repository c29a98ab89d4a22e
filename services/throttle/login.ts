import { normalizeUsername } from '../accounts.js';
import type { AttemptCount, AttemptCounter } from './types.js';

export interface ThrottleLimits {
  /** Failed logins allowed for one account from one client address, per window. */
  perAccountAndAddress: number;
  /** Attempts allowed from one client address, whatever the accounts, per window. */
  perAddress: number;
  /** Successful logins allowed for one account, from anywhere, per window (default: no limit). */
  loginsPerAccount?: number;
  /** Successful logins allowed from one client address, per window (default: no limit). */
  loginsPerAddress?: number;
  windowSeconds: number;
}

/** Why an attempt was refused: too many failures, or too many logins (which succeed). */
export type ThrottleReason = 'failures' | 'logins';

/** Go ahead (and report the outcome with the ticket), or wait this long. */
export type ThrottleVerdict = { allowed: true; ticket: Ticket } | { allowed: false; reason: ThrottleReason; retryAfterSeconds: number };

/** What a login attempt reserved, to settle once the password has been checked. */
export interface Ticket {
  pairKey: string;
  addressKey: string;
  accountLoginsKey: string;
  addressLoginsKey: string;
}

/**
 * The login throttle. An attempt takes its slots first, atomically, and only then is the
 * password checked: N concurrent guesses are N counts, so at most the limit of them ever
 * reach scrypt (a check-then-count throttle lets a burst through whole).
 *
 * What is counted, and why:
 * - per (account, client address): an address that keeps failing on one account is refused.
 * - per client address: an address spraying many accounts (or names) is refused.
 * - not failures per account alone: a stranger could then lock the owner out of their own
 *   account by failing on purpose. The owner, from an address with no recent failures, always
 *   gets in; the price is that an attacker with many addresses gets perAccountAndAddress guesses from each.
 * - logins per account and per address: a login that succeeds still costs a scrypt and leaves a
 *   live session behind, so a flood of right passwords (one account making a thousand sessions a
 *   minute) is bounded too. Only successes stay counted here: a failure, or an attempt refused for
 *   failures, gives its slot back, so a stranger who fails on purpose never uses up the owner's logins.
 *
 * Every attempt takes one slot of each kind; the outcome gives back the slots it does not
 * belong to. Unknown usernames are counted exactly like real ones, so a 429 says nothing about
 * which accounts exist. A success clears its (account, address) failure counter and gives the
 * address its attempt back: logging in is not an attack, and many users may share one address (NAT).
 */
export class LoginThrottle {
  constructor(
    private readonly counter: () => AttemptCounter,
    private readonly limits: ThrottleLimits,
  ) {}

  async reserve(username: string, address: string): Promise<ThrottleVerdict> {
    const name = normalizeUsername(username);
    // The address goes first: it never contains "|", so the key cannot be read two ways.
    const ticket: Ticket = {
      pairKey: `try:${address}|${name}`,
      addressKey: `ip:${address}`,
      accountLoginsKey: `login:user:${name}`,
      addressLoginsKey: `login:ip:${address}`,
    };
    const counter = this.counter();
    const [pair, byAddress, accountLogins, addressLogins] = await counter.add(
      [ticket.pairKey, ticket.addressKey, ticket.accountLoginsKey, ticket.addressLoginsKey],
      this.limits.windowSeconds,
    );
    const over = (count: AttemptCount | undefined, limit = Infinity) => (count && count.count > limit ? count.resetInSeconds : 0);
    const failureWait = Math.max(over(pair, this.limits.perAccountAndAddress), over(byAddress, this.limits.perAddress));
    const loginWait = Math.max(over(accountLogins, this.limits.loginsPerAccount), over(addressLogins, this.limits.loginsPerAddress));
    if (failureWait === 0 && loginWait === 0) return { allowed: true, ticket };
    // Refused: not a login, so its login slots go back (the failure counts stay, as they always did).
    await this.giveBackLogins(ticket);
    return failureWait > 0
      ? { allowed: false, reason: 'failures', retryAfterSeconds: failureWait }
      : { allowed: false, reason: 'logins', retryAfterSeconds: loginWait };
  }

  /** The password was right: this was not a failure, and it is a login. */
  async succeeded(ticket: Ticket): Promise<void> {
    const counter = this.counter();
    await Promise.all([counter.clear(ticket.pairKey), counter.undo(ticket.addressKey)]);
  }

  /** The password was wrong: a failure (it stays counted), not a login. */
  failed(ticket: Ticket): Promise<void> {
    return this.giveBackLogins(ticket);
  }

  /** The password was never checked (the hashing queue was full): neither a failure nor a login. */
  async abandoned(ticket: Ticket): Promise<void> {
    const counter = this.counter();
    await Promise.all([counter.undo(ticket.pairKey), counter.undo(ticket.addressKey), this.giveBackLogins(ticket)]);
  }

  private async giveBackLogins(ticket: Ticket): Promise<void> {
    const counter = this.counter();
    await Promise.all([counter.undo(ticket.accountLoginsKey), counter.undo(ticket.addressLoginsKey)]);
  }
}
