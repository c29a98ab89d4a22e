import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { startLab, type Lab, type LabOptions } from '../../scripts/lab.js';

/**
 * A real lab (instances and balancer as child processes) on free ports, against
 * the suite's redis-server with a key prefix of its own, so test files never
 * see each other's sessions.
 */
export function startTestLab(options: LabOptions = {}): Promise<Lab> {
  const lines: string[] = [];
  return startLab({
    port: 0,
    adminPort: 0,
    redisUrl: inject('redisUrl'),
    ...options,
    instanceEnv: { REDIS_KEY_PREFIX: `test:${randomBytes(4).toString('hex')}:`, LOG_LEVEL: 'warn', ...options.instanceEnv },
    balancerEnv: { LOG_LEVEL: 'warn', HEALTH_INTERVAL_MS: '200', ...options.balancerEnv },
    onLine: options.onLine ?? ((name, line) => lines.push(`[${name}] ${line}`)),
  });
}

/** Polls until check() is true: for state that changes on a timer (health checks), never a fixed sleep. */
export async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
