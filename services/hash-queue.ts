/** The queue would be too long: `account` (this key has its share waiting) or `busy` (everyone does). */
export class HashQueueFullError extends Error {
  constructor(readonly scope: 'account' | 'busy') {
    super(scope === 'account' ? 'too many password checks waiting for this account' : 'too many password checks waiting');
    this.name = 'HashQueueFullError';
  }
}

export interface HashQueueLimits {
  /** Password checks running at once (each scrypt takes a libuv thread and 16 MiB for ~50 ms). */
  concurrency: number;
  /** Checks one key (one account) may have running or waiting; the next is refused at once. */
  perKey: number;
  /** Checks waiting in all, whatever the keys; the next is refused at once. */
  waiting: number;
}

/**
 * A bounded, fair queue for the password hashing. Without it every login runs its scrypt at
 * once: 48 parallel logins for one account fill the thread pool, and everyone else's login
 * waits behind all of them (seconds on a 2-core machine). Here a few run at a time, and the
 * waiting ones are served one key after another (round robin over accounts): a flooding
 * account queues behind itself, and another user's login waits for at most one turn.
 * Pure bookkeeping, no I/O: tested without sockets.
 */
export class HashQueue {
  private running = 0;
  private waitingCount = 0;
  /** key -> its waiting tasks. */
  private readonly waiting = new Map<string, Array<() => void>>();
  /** key -> checks running or waiting. */
  private readonly pending = new Map<string, number>();
  /** key -> when its last check started (a tick count), while it has checks pending. */
  private readonly lastStarted = new Map<string, number>();
  private ticks = 0;

  constructor(private readonly limits: HashQueueLimits) {}

  /** Runs `task` in its turn, or throws HashQueueFullError at once when the queue is too long. */
  async run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const mine = this.pending.get(key) ?? 0;
    if (mine >= this.limits.perKey) throw new HashQueueFullError('account');
    const mustWait = this.running >= this.limits.concurrency;
    if (mustWait && this.waitingCount >= this.limits.waiting) throw new HashQueueFullError('busy');
    this.pending.set(key, mine + 1);
    try {
      if (mustWait) await this.turn(key);
      else this.start(key);
      return await task();
    } finally {
      this.running--;
      const left = (this.pending.get(key) ?? 1) - 1;
      if (left === 0) {
        this.pending.delete(key);
        this.lastStarted.delete(key);
      } else this.pending.set(key, left);
      this.next();
    }
  }

  /** How many checks run and wait, in all (for tests and logs). */
  get size(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waitingCount };
  }

  private turn(key: string): Promise<void> {
    return new Promise((resolve) => {
      const queue = this.waiting.get(key);
      if (queue) queue.push(resolve);
      else this.waiting.set(key, [resolve]);
      this.waitingCount++;
    });
  }

  private start(key: string): void {
    this.running++;
    this.lastStarted.set(key, ++this.ticks);
  }

  private next(): void {
    if (this.running >= this.limits.concurrency) return;
    // The waiting account whose last check started longest ago (or never) goes first: an
    // account that was just served goes to the back of the line.
    let chosen: string | undefined;
    let oldest = Infinity;
    for (const key of this.waiting.keys()) {
      const started = this.lastStarted.get(key) ?? 0;
      if (started < oldest) [chosen, oldest] = [key, started];
    }
    if (chosen === undefined) return;
    const queue = this.waiting.get(chosen)!;
    const resolve = queue.shift()!;
    if (queue.length === 0) this.waiting.delete(chosen);
    this.waitingCount--;
    this.start(chosen);
    resolve();
  }
}
