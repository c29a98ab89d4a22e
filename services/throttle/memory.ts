import type { AttemptCount, AttemptCounter } from './types.js';

/**
 * Counters in this process's memory. Each method does all its work before its first
 * await, so concurrent requests are counted one after the other (JavaScript runs one
 * callback at a time): that is what makes add() atomic here.
 */
export class MemoryAttemptCounter implements AttemptCounter {
  private readonly counters = new Map<string, { count: number; resetAt: number }>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(sweepIntervalMs = 60_000) {
    this.sweeper = setInterval(() => this.sweep(), sweepIntervalMs);
    this.sweeper.unref();
  }

  async add(keys: readonly string[], windowSeconds: number): Promise<AttemptCount[]> {
    const now = Date.now();
    return keys.map((key) => {
      let counter = this.counters.get(key);
      if (!counter || counter.resetAt <= now) {
        counter = { count: 0, resetAt: now + windowSeconds * 1000 };
        this.counters.set(key, counter);
      }
      counter.count++;
      return { count: counter.count, resetInSeconds: Math.ceil((counter.resetAt - now) / 1000) };
    });
  }

  async undo(key: string): Promise<void> {
    const counter = this.counters.get(key);
    if (counter && counter.count > 0) counter.count--;
  }

  async clear(key: string): Promise<void> {
    this.counters.delete(key);
  }

  /** Windows that ended and were never touched again: dropped, so memory stays flat under a spray of names. */
  sweep(now = Date.now()): void {
    for (const [key, counter] of this.counters) if (counter.resetAt <= now) this.counters.delete(key);
  }

  close(): void {
    clearInterval(this.sweeper);
    this.counters.clear();
  }
}
