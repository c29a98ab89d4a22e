import type { FaultKind, PlannedFault } from './schedule.js';

/** Everything a chaos run saw, in ms from its start: the invariants are judged on this alone. */
export interface ChaosRecord {
  seed: number;
  durationMs: number;
  planned: PlannedFault[];
  faults: AppliedFault[];
  requests: RequestEvent[];
  /** Calls the runner made to the admin API that failed (status null: no answer). */
  adminErrors: { at: number; action: string; status: number | null; message: string }[];
  memory: MemorySample[];
  leftovers: Leftovers;
}

export interface AppliedFault {
  id: number;
  kind: FaultKind;
  /** e.g. "app-2", "sticky", "app-4" (the instance a scale fault added). */
  target: string | null;
  start: number;
  /** When the lab was whole again: every instance up, on the lab's store. */
  end: number;
  /** The lab was whole again within the recovery limit. */
  recovered: boolean;
  /** Ctrl-C came during this fault: its recovery was not waited for. */
  interrupted?: boolean;
  note?: string;
}

export interface RequestEvent {
  at: number;
  user: number;
  kind: 'login' | 'read' | 'write';
  status: number;
  servedBy: string | null;
  error: string | null;
  retryAfter: string | null;
  latencyMs: number;
  /** A logged-in user got 401 not_logged_in: the session was lost. With when that session was made. */
  lostSession?: { loginAt: number; reason: string | null };
}

export interface MemorySample {
  at: number;
  /** balancer, app-1, ..., redis */
  process: string;
  pid: number;
  rssMiB: number;
}

/** Checked after the lab was closed. */
export interface Leftovers {
  /** Child process ids that were still alive. */
  processes: { name: string; pid: number }[];
  /** Ports the lab had used that still accepted connections. */
  ports: number[];
  /** Temporary directories still on disk. */
  dirs: string[];
  /** How many of each were checked. */
  checked: { processes: number; ports: number; dirs: number };
}
