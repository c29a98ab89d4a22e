/**
 * Graceful drain on SIGTERM. Closing the server at once would refuse the requests the
 * balancer is about to send, and answer 503 to those already on a kept-alive connection.
 * So the instance first says "draining" on /health (the balancer stops choosing it), asks
 * every connection to close after its current answer, and closes only once the balancer
 * has seen the 503, or has stopped probing (it is gone), or `maxMs` has passed.
 */
export class Drain {
  private startedAt = 0;
  private lastProbe = 0;
  private probeGap = 0;
  private seenAt = 0;

  get draining(): boolean {
    return this.startedAt > 0;
  }

  /** Called for every /health probe; true when the probe was answered "draining". */
  probed(now = Date.now()): boolean {
    if (this.lastProbe > 0) this.probeGap = now - this.lastProbe;
    this.lastProbe = now;
    if (this.draining && this.seenAt === 0) this.seenAt = now;
    return this.draining;
  }

  /**
   * Resolves when it is safe to close, with the reason. `graceMs` after the balancer saw the
   * 503 covers a request it had already routed here when it looked.
   */
  async start(maxMs: number, graceMs = 100): Promise<'seen' | 'unwatched' | 'timeout'> {
    this.startedAt = Date.now();
    for (;;) {
      const now = Date.now();
      if (this.seenAt > 0 && now - this.seenAt >= graceMs) return 'seen';
      // Nobody probes us (no balancer), or the prober went silent for two of its intervals.
      const silent = this.lastProbe === 0 || now - this.lastProbe > Math.max(2 * this.probeGap, 500);
      if (silent) return 'unwatched';
      if (now - this.startedAt >= maxMs) return 'timeout';
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}
