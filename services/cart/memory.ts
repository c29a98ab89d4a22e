import type { MemoryRaceState } from '../stores/guarded-memory.js';
import type { SessionCarts } from './types.js';

/** The carts of this process's memory logbook; each add runs whole, so none is lost. */
export class MemoryCarts implements SessionCarts {
  constructor(private readonly race: MemoryRaceState) {}

  async add(sessionId: string, item: string, limit: number, ttlSeconds: number): Promise<string[] | null> {
    if (this.race.ended.get(sessionId)) return null;
    const cart = [...(this.race.carts.get(sessionId) ?? []), item].slice(-limit);
    this.race.carts.set(sessionId, cart, ttlSeconds);
    return cart;
  }
}
