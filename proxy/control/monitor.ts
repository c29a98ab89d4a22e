import { EventEmitter } from 'node:events';
import type { StoreKind, RoutingKind } from '../../services/vocabulary.js';
import type { Balancer, ServedEvent } from '../balancer/index.js';
import type { LabRedis, RedisView } from './lab-redis.js';
import type { InstanceLifecycle, StreamStatus } from './lab-protocol.js';
import type { LauncherLink } from './launcher-link.js';
import { markOf, steadyLoggedOut, type Mark, type MarkKind } from './plot-marks.js';
import type { InstanceView as KnownInstance, LabChange, LabState } from './state.js';

/** Requests that need a logged-in session: a 401 on these is a user being "logged out". */
const SESSION_PATHS = new Set(['/profile', '/cart']);
const RECENT = 5;
/** The logged-out rate is measured over this many seconds: one second holds too few requests to read. */
const RATE_WINDOW = 5;
const LOG_SIZE = 40;

export interface Served {
  at: number;
  method: string;
  path: string;
  status: number;
}

/** One instance on the dashboard: what the lab knows of it (state.ts), and its traffic. */
export interface InstanceView extends Omit<KnownInstance, 'bootId' | 'confirmedGeneration'> {
  requests: number;
  rps: number;
  unauthorized: number;
  recent: Served[];
  /** What the launcher knows (stopped on purpose, restarting after a crash); null without a launcher. */
  lifecycle: InstanceLifecycle | null;
}

/** One point of the plots: the last second. */
export interface Sample {
  at: number;
  rps: Record<string, number>;
  /** Share of session requests answered 401 over the last RATE_WINDOW seconds; null when there were none. */
  loggedOutRate: number | null;
  /** Share of them answered 5xx by an instance (its store not answering): not a logout, an outage. */
  unavailableRate: number | null;
  /** What theory predicts for the mode active at this moment; null with no instance up. */
  theory: number | null;
  /** Mode switches, crashes, restarts, Redis outages during this second. */
  marks: Mark[];
  /** Answers per instance this second: [2xx/3xx, 401, 5xx], for the topology's moving requests. */
  flow: Record<string, [number, number, number]>;
}

export interface LogEntry {
  at: number;
  text: string;
}

export interface Snapshot {
  at: number;
  routing: RoutingKind;
  store: StoreKind;
  mode: string | null;
  publicPort: number | null;
  /** unavailable: 5xx answers the instances gave (a store outage), which `failed` (the balancer's own) does not count. */
  balancer: { requests: number; retries: number; failed: number; rps: number; unavailable: number };
  instances: InstanceView[];
  /** checked: false until the first look at Redis since a dashboard opened. */
  redis: (RedisView & { checked: boolean; inUse: boolean; pausedUntil: number | null }) | null;
  launcher: { available: boolean; stream: StreamStatus | null };
  sample: Sample | null;
  log: LogEntry[];
}

export interface MonitorOptions {
  redis?: LabRedis | undefined;
  launcher?: LauncherLink | undefined;
  intervalMs?: number;
  /** How many one-second samples the plots keep. */
  historySize?: number;
}

interface Counters {
  requests: number;
  unauthorized: number;
  recent: Served[];
}

/**
 * Turns the lab's state and the balancer's traffic into what the dashboard shows: a
 * snapshot every second (the plots' sample) and at once on every state change (an
 * instance down or back, a mode switch), the last minutes of per-instance traffic and
 * the logged-out rate.
 */
export class Monitor extends EventEmitter<{ snapshot: [Snapshot] }> {
  readonly history: Sample[] = [];
  /** Open dashboards. Redis is only inspected while someone looks: a SCAN a second is not free. */
  watchers = 0;
  private readonly log: LogEntry[] = [];
  private readonly counters = new Map<string, Counters>();
  private bucket = newBucket();
  private readonly window: { session: number; loggedOut: number; unavailable: number }[] = [];
  private unavailable = 0;
  private markedStore: StoreKind;
  private lastTick = Date.now();
  private lastRequests = 0;
  private rps = 0;
  private redisView: RedisView | null = null;
  private redisBusy = false;
  private pausedUntil: number | null = null;
  private timer: NodeJS.Timeout | undefined;
  private readonly onServed = (event: ServedEvent) => this.count(event);
  private readonly onChange = (change: LabChange) => {
    if (change.type === 'left') this.counters.delete(change.id);
    if (change.text) this.note(change.text);
    const storeChanged = change.type === 'mode' && this.markedStore !== this.state.store;
    this.markedStore = this.state.store;
    const mark = markOf(change, this.state.mode, Date.now(), storeChanged);
    // A crash from the dashboard is marked by its route already; the health check's "down" follows.
    const subject = (m: Mark) => `${m.kind} ${m.text.split(' ')[0]}`;
    if (mark && !this.bucket.marks.some((m) => subject(m) === subject(mark))) this.bucket.marks.push(mark);
    this.poke();
  };

  constructor(
    private readonly balancer: Balancer,
    private readonly state: LabState,
    private readonly options: MonitorOptions = {},
  ) {
    super();
    this.setMaxListeners(0);
    this.lastRequests = balancer.stats.requests;
    this.markedStore = state.store;
  }

  start(): void {
    this.balancer.traffic.on('served', this.onServed);
    // Changes are pushed as they happen, not at the next tick: a crash followed by a fast
    // restart would otherwise be invisible.
    this.state.on('change', this.onChange);
    this.inspectRedis();
    this.timer = setInterval(() => this.tick(), this.options.intervalMs ?? 1000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.balancer.traffic.off('served', this.onServed);
    this.state.off('change', this.onChange);
  }

  note(text: string): void {
    this.log.push({ at: Date.now(), text });
    if (this.log.length > LOG_SIZE) this.log.shift();
  }

  /** Something just changed that the page should see now (a control was used). */
  poke(): void {
    this.emit('snapshot', this.snapshot(null));
  }

  markPaused(until: number): void {
    this.pausedUntil = until;
    this.inspectRedis();
  }

  /** Puts a mark on the plots at this second (a control the state does not see: a Redis drill). */
  mark(kind: MarkKind, text: string): void {
    this.bucket.marks.push({ at: Date.now(), kind, text });
  }

  private counter(id: string): Counters {
    let counter = this.counters.get(id);
    if (!counter) {
      counter = { requests: 0, unauthorized: 0, recent: [] };
      this.counters.set(id, counter);
    }
    return counter;
  }

  private count({ instance, method, path, status }: ServedEvent): void {
    const counter = this.counter(instance);
    counter.requests++;
    if (status === 401) counter.unauthorized++;
    counter.recent.unshift({ at: Date.now(), method, path, status });
    if (counter.recent.length > RECENT) counter.recent.pop();
    this.bucket.rps.set(instance, (this.bucket.rps.get(instance) ?? 0) + 1);
    const flow = this.bucket.flow[instance] ?? (this.bucket.flow[instance] = [0, 0, 0]);
    flow[status >= 500 ? 2 : status === 401 ? 1 : 0]++;
    if (status >= 500) this.unavailable++;
    if (SESSION_PATHS.has(path)) {
      this.bucket.session++;
      if (status === 401) this.bucket.loggedOut++;
      if (status >= 500) this.bucket.unavailable++;
    }
  }

  private tick(): void {
    const now = Date.now();
    const seconds = Math.max(0.001, (now - this.lastTick) / 1000);
    this.lastTick = now;
    const rps: Record<string, number> = {};
    for (const backend of this.balancer.backends) rps[backend.id] = round((this.bucket.rps.get(backend.id) ?? 0) / seconds);
    this.window.push({ session: this.bucket.session, loggedOut: this.bucket.loggedOut, unavailable: this.bucket.unavailable });
    if (this.window.length > RATE_WINDOW) this.window.shift();
    const sum = (key: 'session' | 'loggedOut' | 'unavailable') => this.window.reduce((total, w) => total + w[key], 0);
    const session = sum('session');
    const up = this.state.instances.filter((i) => i.up).length;
    const sample: Sample = {
      at: now,
      rps,
      loggedOutRate: session > 0 ? sum('loggedOut') / session : null,
      unavailableRate: session > 0 ? sum('unavailable') / session : null,
      theory: steadyLoggedOut(this.state.routing, this.state.store, up),
      marks: this.bucket.marks,
      flow: this.bucket.flow,
    };
    this.bucket = newBucket();
    this.rps = round((this.balancer.stats.requests - this.lastRequests) / seconds);
    this.lastRequests = this.balancer.stats.requests;
    this.history.push(sample);
    if (this.history.length > (this.options.historySize ?? 180)) this.history.shift();
    this.inspectRedis();
    this.emit('snapshot', this.snapshot(sample));
  }

  inspectRedis(): void {
    const redis = this.options.redis;
    if (!redis || this.redisBusy || this.watchers === 0) return;
    this.redisBusy = true;
    redis
      .inspect()
      .then((view) => {
        const was = this.redisView?.up;
        if (was !== undefined && was !== view.up) {
          this.note(view.up ? 'Redis answers again: the shared logbook is back' : `Redis is not answering (${view.error ?? 'no reply'})`);
          // A pause from the dashboard is marked already, when it was asked for.
          const pausedOnPurpose = this.pausedUntil !== null && this.pausedUntil > Date.now();
          if (view.up || !pausedOnPurpose) this.mark('redis', view.up ? 'Redis back' : 'Redis down');
        }
        this.redisView = view;
      })
      .catch(() => {})
      .finally(() => {
        this.redisBusy = false;
      });
  }

  snapshot(sample: Sample | null): Snapshot {
    const { routing, store, mode } = this.state;
    const lifecycle = new Map(this.options.launcher?.inventory?.instances.map((i) => [i.id, i.state]) ?? []);
    const latest = this.history.at(-1);
    const pausedUntil = this.pausedUntil && this.pausedUntil > Date.now() ? this.pausedUntil : null;
    return {
      at: Date.now(),
      routing,
      store,
      mode,
      publicPort: this.balancer.publicPort,
      balancer: { ...this.balancer.stats, rps: this.rps, unavailable: this.unavailable },
      instances: this.state.instances.map((b) => {
        const counter = this.counter(b.id);
        return {
          id: b.id,
          url: b.url,
          up: b.up,
          lastError: b.lastError,
          store: b.store,
          storeOk: b.storeOk,
          sessions: b.sessions,
          requests: counter.requests,
          rps: latest?.rps[b.id] ?? 0,
          unauthorized: counter.unauthorized,
          recent: counter.recent,
          lifecycle: lifecycle.get(b.id) ?? null,
        };
      }),
      redis: this.options.redis
        ? {
            ...(this.redisView ?? { up: false, error: null, keys: null, capped: false, sample: [] }),
            checked: this.redisView !== null,
            inUse: store === 'redis',
            pausedUntil,
          }
        : null,
      launcher: {
        available: this.options.launcher?.available ?? false,
        stream: this.options.launcher?.inventory?.stream ?? null,
      },
      sample,
      log: this.log.slice(-LOG_SIZE),
    };
  }
}

function newBucket() {
  return { rps: new Map<string, number>(), session: 0, loggedOut: 0, unavailable: 0, marks: [] as Mark[], flow: {} as Sample['flow'] };
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
