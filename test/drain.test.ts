import { describe, expect, it } from 'vitest';
import { Drain } from '../services/drain.js';

// The drain decides when an instance may close after SIGTERM, from the balancer's health probes alone.
describe('graceful drain: close once the balancer has seen "draining"', () => {
  it('with nobody probing (no balancer), closes at once: "unwatched"', async () => {
    const drain = new Drain();
    expect(drain.draining).toBe(false);
    expect(await drain.start(5000)).toBe('unwatched');
    expect(drain.draining).toBe(true);
  });

  it('answers the next probe "draining" and closes a grace period after it: "seen"', async () => {
    const drain = new Drain();
    drain.probed();
    const closing = drain.start(10_000, 30);
    // The balancer's next health check arrives while draining: it is told, and stops choosing us.
    expect(drain.probed()).toBe(true);
    expect(await closing).toBe('seen');
  });

  it('gives up after maxMs when the prober is alive but has not looked since the drain began: "timeout"', async () => {
    const drain = new Drain();
    const now = Date.now();
    // A prober every 400 ms: silence means "gone" only after two gaps (800 ms), later than maxMs.
    drain.probed(now - 400);
    drain.probed(now);
    expect(await drain.start(50)).toBe('timeout');
  });

  it('treats a prober that went silent for two of its intervals as gone: "unwatched"', async () => {
    const drain = new Drain();
    const now = Date.now();
    drain.probed(now - 2000);
    drain.probed(now - 1900);
    expect(await drain.start(10_000)).toBe('unwatched');
  });
});
