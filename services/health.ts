import type { SessionStore } from './stores/types.js';

export interface InstanceHealth {
  instance: string;
  /**
   * Random per start of the app: a new value means the instance restarted (and its memory
   * logbook is empty), which a balancer can tell without learning the process id.
   */
  bootId: string;
  store: SessionStore['kind'];
  storeOk: boolean;
  sessions: number | null;
}

/** What the balancer's health check reads (GET /health): enough to route, nothing about the process. */
export async function instanceHealth(instance: string, bootId: string, store: SessionStore): Promise<InstanceHealth> {
  return { instance, bootId, store: store.kind, storeOk: await store.ping(), sessions: await store.size() };
}

/** For the operator only (GET /_control/health): the process behind the instance. */
export function processHealth(): { pid: number; heapUsedMiB: number } {
  return {
    pid: process.pid,
    // The soak test watches this for leaks: RSS also counts scrypt's 16 MiB work buffers.
    heapUsedMiB: Math.round((process.memoryUsage().heapUsed / 1048576) * 10) / 10,
  };
}
