import type { Session } from 'fastify';
import type { StoreKind } from '../vocabulary.js';
import type { AttemptCounter } from '../throttle/types.js';
import type { UserIndex } from '../user-index/types.js';
import type { SessionCarts } from '../cart/types.js';
import type { RaceGuard } from './race-guard.js';
import { destroySession, ttlSeconds, type SessionStore } from './types.js';

/**
 * What one store kind provides: the sessions, and beside them the login counters and the
 * per-user index, kept in the same place (Redis: shared by every instance; memory: this
 * process only), so switching the store switches all three together.
 */
export interface Backing {
  store: SessionStore;
  attempts: AttemptCounter;
  users: UserIndex;
  /** The carts of guarded sessions (services/stores/race-guard.ts); null where the cart is in the cookie. */
  carts: SessionCarts | null;
  /** Closes whatever the three hold (for Redis, their one connection). */
  close(): Promise<void>;
}

/**
 * The store the session plugin sees. It forwards to the memory or the Redis
 * backing, whichever is active, so the lab can switch stores at runtime. The two
 * are separate logbooks: a session written in one is not found in the other.
 */
export class SwitchableStore implements SessionStore {
  private active: Backing;
  private readonly built = new Map<StoreKind, Backing>();

  constructor(
    private readonly backings: Partial<Record<StoreKind, () => Backing>>,
    initial: StoreKind,
    private readonly defaultTtlSeconds: number,
    /** Live sessions one user may hold (in the active store); a login beyond it ends the oldest. */
    private readonly maxSessionsPerUser = Infinity,
    /** Shared by every backing: one switch guards (or not) whichever store is active. */
    readonly guard: RaceGuard = { on: true },
  ) {
    this.active = this.open(initial);
  }

  get kind(): StoreKind {
    return this.active.store.kind;
  }

  /** The active kind's login counters and user index: read at each use, so they follow a switch. */
  get attempts(): AttemptCounter {
    return this.active.attempts;
  }

  get users(): UserIndex {
    return this.active.users;
  }

  get carts(): SessionCarts | null {
    return this.active.carts;
  }

  /** The active store itself, whose writes skip the user index: for seeding the bench's sessions. */
  get sessions(): SessionStore {
    return this.active.store;
  }

  available(): StoreKind[] {
    return Object.keys(this.backings) as StoreKind[];
  }

  /** Built on first use: an instance in memory mode never connects to Redis. */
  private open(kind: StoreKind): Backing {
    let backing = this.built.get(kind);
    if (!backing) {
      const make = this.backings[kind];
      if (!make) throw new Error(`store "${kind}" is not configured on this instance (for redis, set REDIS_URL)`);
      backing = make();
      this.built.set(kind, backing);
    }
    return backing;
  }

  switchTo(kind: StoreKind): void {
    this.active = this.open(kind);
  }

  get(sessionId: string, callback: (err: unknown, session?: Session | null) => void): void {
    this.active.store.get(sessionId, callback);
  }

  /**
   * Every write of a logged-in session also renews its entry in the user index: the session
   * plugin writes on login and on each idle-timeout refresh, so a session kept alive by use
   * is never missing from "log out everywhere" (an entry that expired with the login-time
   * TTL would be).
   */
  set(sessionId: string, session: Session, callback: (err?: unknown) => void): void {
    const { store, users } = this.active;
    store.set(sessionId, session, (err) => {
      const username = session.user?.username;
      if (err || !username) return callback(err);
      users
        .add(username, sessionId, ttlSeconds(session, this.defaultTtlSeconds), this.maxSessionsPerUser)
        // Over the cap: the sessions due to expire first end now, so one account cannot pile up
        // a thousand live sessions (each a row in the store) by logging in again and again.
        .then((evicted) => Promise.all(evicted.map((id) => destroySession(store, id))))
        .then(() => callback(), callback);
    });
  }

  /**
   * Ends the session in every store this instance has opened, not only the active one. After a
   * switch (memory -> redis -> memory), the memory store still holds the sessions written before
   * the first switch: a logout while redis was active must not leave them to come back to life.
   */
  destroy(sessionId: string, callback: (err?: unknown) => void): void {
    const others = [...this.built.values()].filter((b) => b !== this.active).map((b) => b.store);
    Promise.all([destroySession(this.active.store, sessionId), ...others.map((store) => destroySession(store, sessionId).catch(() => undefined))]).then(
      () => callback(),
      callback,
    );
  }

  ping(): Promise<boolean> {
    return this.active.store.ping();
  }

  whenReady(timeoutMs: number): Promise<boolean> {
    return this.active.store.whenReady(timeoutMs);
  }

  size(): Promise<number | null> {
    return this.active.store.size();
  }

  async close(): Promise<void> {
    await Promise.all([...this.built.values()].map((b) => b.close()));
  }
}
