import type { StoreKind } from '../services/config.js';

export type RoutingKind = 'round-robin' | 'cookie' | 'ip-hash' | 'consistent-hash';
export const ROUTING_KINDS: readonly RoutingKind[] = ['round-robin', 'cookie', 'ip-hash', 'consistent-hash'];

export type ModeName = 'memory' | 'sticky' | 'redis';

/** The lesson's three modes are presets of two independent settings. */
export const MODES: Record<ModeName, { routing: RoutingKind; store: StoreKind; summary: string }> = {
  memory: {
    routing: 'round-robin',
    store: 'memory',
    summary: 'round robin + a logbook per instance: logged in, then "randomly" logged out',
  },
  sticky: {
    routing: 'cookie',
    store: 'memory',
    summary: 'the balancer pins each browser to one instance: fine until that instance dies',
  },
  redis: {
    routing: 'round-robin',
    store: 'redis',
    summary: 'round robin + one shared logbook in Redis: every instance knows every session',
  },
};
export const MODE_NAMES = Object.keys(MODES) as ModeName[];

/** The mode a pair of settings corresponds to, if any. */
export function modeOf(routing: RoutingKind, store: StoreKind): ModeName | null {
  return MODE_NAMES.find((m) => MODES[m].routing === routing && MODES[m].store === store) ?? null;
}
