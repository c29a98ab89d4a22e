import type { StreamStatus } from '../proxy/control/lab-protocol.js';
import { DEMO_CREDENTIALS } from './simulate/accounts.js';
import { isLoopback, userAddress } from './simulate/population.js';
import { VirtualUser } from './simulate/virtual-user.js';

export interface StreamOptions {
  baseUrl: string;
  /** Requests per second, all users together. */
  rate: number;
  users?: number;
  /** Load is always bounded: the stream stops by itself after this long. */
  maxSeconds?: number;
  onEnd?: () => void;
}

/** Logged out this many times in a row, a virtual user logs in again (as a person would, after a retry or two). */
const PATIENCE = 3;

/**
 * A steady stream of virtual users through the public balancer port, for the
 * dashboard's plots: each tick, the next idle user makes one request. A user
 * who keeps being logged out logs in again, so a switch to a working mode heals
 * the stream; the logged-out rate does not depend on it, because every
 * follow-up lands on an instance the balancer picks, not the user. Logins are
 * kept rare on purpose: each costs an scrypt hash, far more than a lookup.
 */
export class VirtualUserStream {
  private readonly users: VirtualUser[];
  private readonly busy = new Set<VirtualUser>();
  private readonly strikes = new Map<VirtualUser, number>();
  private readonly timer: NodeJS.Timeout;
  private readonly deadline: NodeJS.Timeout;
  private readonly counts = { requests: 0, loggedOut: 0, skipped: 0 };
  private stopped = false;
  readonly endsAt: number;

  constructor(private readonly options: StreamOptions) {
    const count = options.users ?? 20;
    this.users = Array.from({ length: count }, (_, i) => {
      const { username, password } = DEMO_CREDENTIALS[i % DEMO_CREDENTIALS.length]!;
      // Each user from its own 127.x address, as the simulator does: ip-hash and the hash ring
      // then spread the users over the desks, and move them when the pool changes.
      const own = isLoopback(options.baseUrl) ? { localAddress: userAddress(i) } : {};
      return new VirtualUser({ baseUrl: options.baseUrl, username, password, timeoutMs: 5000, ...own });
    });
    const maxSeconds = options.maxSeconds ?? 600;
    this.endsAt = Date.now() + maxSeconds * 1000;
    this.timer = setInterval(() => this.tick(), Math.max(1, Math.round(1000 / options.rate)));
    this.deadline = setTimeout(() => {
      this.stop();
      options.onEnd?.();
    }, maxSeconds * 1000);
    this.timer.unref();
    this.deadline.unref();
  }

  status(): StreamStatus {
    return {
      running: !this.stopped,
      rate: this.options.rate,
      users: this.users.length,
      endsAt: this.stopped ? null : this.endsAt,
      ...this.counts,
    };
  }

  private tick(): void {
    // A random idle user: users taking turns in a fixed order would march in step with the
    // round robin and make the logged-out rate swing; only idle users, so a slow answer
    // never piles up more requests than there are users.
    const idle = this.users.filter((u) => !this.busy.has(u));
    const user = idle[Math.floor(Math.random() * idle.length)];
    if (!user) {
      this.counts.skipped++;
      return;
    }
    this.busy.add(user);
    void this.act(user).finally(() => this.busy.delete(user));
  }

  private async act(user: VirtualUser): Promise<void> {
    this.counts.requests++;
    if (!user.loggedIn) {
      await user.login();
      return;
    }
    const outcome = await user.step();
    if (!outcome.loggedOut) {
      this.strikes.delete(user);
      return;
    }
    this.counts.loggedOut++;
    const strikes = (this.strikes.get(user) ?? 0) + 1;
    this.strikes.set(user, strikes);
    if (strikes >= PATIENCE) {
      this.strikes.delete(user);
      user.loggedIn = false;
    }
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.deadline);
    for (const user of this.users) user.close();
  }
}
