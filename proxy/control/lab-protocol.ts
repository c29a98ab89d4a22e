/**
 * Messages between the launcher (npm start, tests) and the balancer it forked
 * with an IPC channel. Some dashboard controls (stop/start/add/remove an
 * instance, the virtual-user stream) need the process that owns the instances:
 * the control plane asks, the launcher does it and answers. The pool itself stays
 * the control plane's: an added instance comes back in the answer and the control
 * plane puts it in; an instance is taken out before the launcher is asked to stop it. Under docker compose
 * there is no launcher, no hello arrives, and those controls stay unavailable.
 */

export type LabActionRequest =
  | { action: 'stop-instance'; instance: string }
  | { action: 'start-instance'; instance: string }
  | { action: 'add-instance' }
  | { action: 'remove-instance'; instance: string }
  | { action: 'stream-start'; rate: number }
  | { action: 'stream-stop' }
  | { action: 'kill-redis-primary' };

export type LabActionName = LabActionRequest['action'];

export type InstanceLifecycle = 'running' | 'stopped' | 'restarting';

export interface StreamStatus {
  running: boolean;
  /** Requests per second the stream aims at. */
  rate: number;
  users: number;
  /** When the stream stops by itself (ms since epoch): load is always bounded in time. */
  endsAt: number | null;
  requests: number;
  loggedOut: number;
  /** Ticks skipped because every virtual user was still waiting for an answer. */
  skipped: number;
}

export interface LauncherInventory {
  instances: { id: string; url: string; state: InstanceLifecycle }[];
  stream: StreamStatus;
}

/** Launcher -> balancer. */
export type LauncherMessage =
  | { type: 'lab-hello'; inventory: LauncherInventory }
  | { type: 'lab-inventory'; inventory: LauncherInventory }
  | { type: 'lab-event'; text: string }
  | { type: 'lab-result'; id: number; ok: boolean; message: string; instance?: LabInstanceAddress };

/** A process the launcher started, for the control plane to put into the pool. */
export interface LabInstanceAddress {
  id: string;
  url: string;
}

/** Balancer -> launcher. */
export interface LabActionMessage {
  type: 'lab-action';
  id: number;
  request: LabActionRequest;
}

export const STREAM_RATE_MIN = 1;
export const STREAM_RATE_MAX = 100;
