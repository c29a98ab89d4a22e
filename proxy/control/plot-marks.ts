import type { RoutingKind, StoreKind } from '../../services/vocabulary.js';
import type { LabChange } from './state.js';

/** Something the plots mark where it happened, so a spike is never left unexplained. */
export type MarkKind = 'mode' | 'crash' | 'back' | 'pool' | 'redis';

export interface Mark {
  at: number;
  kind: MarkKind;
  /** A few words, drawn on the plot. */
  text: string;
}

/**
 * The logged-out rate theory predicts in steady state: (N-1)/N for round robin over
 * logbooks per instance, 0 for every mode that keeps a user with their logbook. The plot
 * draws it per sample, so it follows the mode that was active at each moment.
 */
export function steadyLoggedOut(routing: RoutingKind, store: StoreKind, upInstances: number): number | null {
  if (upInstances === 0) return null;
  return routing === 'round-robin' && store === 'memory' ? (upInstances - 1) / upInstances : 0;
}

/**
 * The mark a change of the lab's state leaves on the plots, if any. A switch of store says that
 * the sessions stay in the old one: the spike of 401s after it is their users logging in again.
 */
export function markOf(change: LabChange, mode: string | null, at: number, storeChanged = false): Mark | null {
  switch (change.type) {
    case 'mode':
      return { at, kind: 'mode', text: `${mode ?? 'custom mode'}${storeChanged ? ': sessions stay in the old store' : ''}` };
    case 'down':
      return { at, kind: 'crash', text: `${change.id} down` };
    case 'up':
    case 'restarted':
      return { at, kind: 'back', text: `${change.id} back, empty` };
    case 'joined':
      return { at, kind: 'pool', text: `+${change.id}` };
    case 'left':
      return { at, kind: 'pool', text: `−${change.id}` };
    default:
      return null;
  }
}
