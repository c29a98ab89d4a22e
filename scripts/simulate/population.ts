import { DEMO_CREDENTIALS } from './accounts.js';
import { VirtualUser } from './virtual-user.js';

/**
 * User i's own loopback source address, 127.10.x.y. Linux routes all of 127.0.0.0/8
 * to lo, so each virtual user looks like a different client IP to the balancer
 * (what ip-hash routes on) without leaving the machine.
 */
export function userAddress(index: number): string {
  return `127.10.${Math.floor(index / 250) % 256}.${(index % 250) + 1}`;
}

export interface PopulationOptions {
  baseUrl: string;
  count: number;
  /** Bind each user to its own 127.10.x.y (default true). */
  ownAddresses?: boolean;
  writeEvery?: number;
}

/** Own loopback addresses only make sense when the lab is on this machine's loopback. */
export function isLoopback(baseUrl: string): boolean {
  const host = new URL(baseUrl).hostname;
  return host === 'localhost' || /^127\./.test(host);
}

/** Virtual users spread over the demo accounts: several browsers may share one account, each with its own session. */
export function createUsers(options: PopulationOptions): VirtualUser[] {
  return Array.from({ length: options.count }, (_, i) => {
    const account = DEMO_CREDENTIALS[i % DEMO_CREDENTIALS.length]!;
    return new VirtualUser({
      baseUrl: options.baseUrl,
      username: account.username,
      password: account.password,
      ...(options.ownAddresses !== false && isLoopback(options.baseUrl) && { localAddress: userAddress(i) }),
      ...(options.writeEvery !== undefined && { writeEvery: options.writeEvery }),
    });
  });
}

/** mulberry32: a seeded generator, so the order in which users act can be replayed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
