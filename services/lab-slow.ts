/**
 * The race lab's slow request: POST /cart?delay=<ms> holds the session it loaded that long
 * before answering, so a person (or a test) can make two requests of one user overlap on
 * purpose. Refused unless LAB_SLOW_MAX_MS allows it; the lab launcher sets that, production never should.
 */
export class SlowRequests {
  /** Requests holding a session right now: what a race waits for before it sends the logout. */
  holding = 0;

  constructor(readonly maxMs: number) {}

  /** Why a delay is refused, or null when it may run. */
  refuse(ms: number): string | null {
    if (ms <= this.maxMs) return null;
    return this.maxMs === 0
      ? 'slow requests are a lab feature: this instance was started without LAB_SLOW_MAX_MS'
      : `delay is at most ${this.maxMs} ms on this instance (LAB_SLOW_MAX_MS)`;
  }

  async hold(ms: number): Promise<void> {
    this.holding++;
    try {
      await new Promise((resolve) => setTimeout(resolve, ms));
    } finally {
      this.holding--;
    }
  }
}
