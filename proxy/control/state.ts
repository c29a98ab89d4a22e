import { EventEmitter } from 'node:events';
import { modeOf, type ModeName, type RoutingKind, type StoreKind } from '../../services/vocabulary.js';

/** What the lab knows of one instance, beyond the balancer's up/down. */
export interface InstanceView {
  id: string;
  url: string;
  /** In the rotation (healthy and admitted), as the balancer last said. */
  up: boolean;
  lastError: string | null;
  /** The store the instance last reported or confirmed. */
  store: StoreKind | null;
  storeOk: boolean | null;
  /** Sessions in its own memory logbook (null: it uses Redis, or did not say). */
  sessions: number | null;
  /** Changes with every start of the instance's process (from /health): a restart shows even between two checks. */
  bootId: string | null;
  /**
   * The pool's check generation when the instance last confirmed a store switch: a report
   * from a check started at or before it may still show the previous store.
   */
  confirmedGeneration: number;
}

/** A change the dashboard should hear about; `text` is the line for its log. */
export type LabChange =
  | { type: 'mode'; text: string }
  | { type: 'joined' | 'left' | 'up' | 'down' | 'restarted'; id: string; text: string }
  | { type: 'instance'; id: string; text?: undefined };

/**
 * The lab's state, with one owner: routing, store and what is known of each instance.
 * Every change goes through a method here and is announced as a 'change' event; the
 * event stream and the monitor listen, nobody polls.
 */
export class LabState extends EventEmitter<{ change: [LabChange] }> {
  private readonly views = new Map<string, InstanceView>();

  constructor(
    private current: { routing: RoutingKind; store: StoreKind },
    instances: readonly { id: string; url: string }[] = [],
  ) {
    super();
    this.setMaxListeners(0);
    for (const instance of instances) this.views.set(instance.id, blank(instance, true));
  }

  get routing(): RoutingKind {
    return this.current.routing;
  }

  get store(): StoreKind {
    return this.current.store;
  }

  get mode(): ModeName | null {
    return modeOf(this.current.routing, this.current.store);
  }

  get instances(): InstanceView[] {
    return [...this.views.values()];
  }

  instance(id: string): InstanceView | undefined {
    return this.views.get(id);
  }

  setMode(routing: RoutingKind, store: StoreKind): void {
    if (routing === this.current.routing && store === this.current.store) return;
    this.current = { routing, store };
    this.emit('change', { type: 'mode', text: `now routing ${routing}, store ${store}` });
  }

  join(instance: { id: string; url: string }): InstanceView {
    const view = blank(instance, false);
    this.views.set(instance.id, view);
    this.emit('change', { type: 'joined', id: instance.id, text: `${instance.id} joined the pool` });
    return view;
  }

  leave(id: string): void {
    if (!this.views.delete(id)) return;
    this.emit('change', { type: 'left', id, text: `${id} left the pool` });
  }

  /** Updates what is known of an instance and announces what changed. */
  update(id: string, patch: Partial<Omit<InstanceView, 'id' | 'url'>>): void {
    const view = this.views.get(id);
    if (!view) return;
    const before = { ...view };
    Object.assign(view, patch);
    if (before.up && !view.up) {
      this.emit('change', { type: 'down', id, text: `${id} is DOWN: ${view.lastError ?? 'no answer'}` });
    } else if (!before.up && view.up) {
      this.emit('change', { type: 'up', id, text: `${id} is UP again${view.store === 'memory' ? ': its memory logbook starts empty' : ''}` });
    } else if (before.bootId !== null && view.bootId !== null && before.bootId !== view.bootId) {
      // Down and back between two health checks: the new process gives it away (a new boot id).
      this.emit('change', { type: 'restarted', id, text: `${id} restarted between two health checks: its memory logbook starts empty` });
    } else if (before.store !== view.store || before.storeOk !== view.storeOk || before.lastError !== view.lastError) {
      this.emit('change', { type: 'instance', id });
    }
  }
}

function blank({ id, url }: { id: string; url: string }, up: boolean): InstanceView {
  return { id, url, up, lastError: null, store: null, storeOk: null, sessions: null, bootId: null, confirmedGeneration: 0 };
}
