import type { BalancerKind } from '../../proxy/config.js';
import { REDIS_MISSING } from '../lib/redis-server.js';
import { SimulationError, connectLab, startOwnLab, type LabDriver } from './lab-driver.js';
import { Progress } from './progress.js';
import { runVariant, type ScenarioName, type SimulationOptions, type SimulationReport, type Variant } from './scenarios.js';

export interface RunOptions extends Omit<SimulationOptions, 'onRequest'> {
  scenario: ScenarioName;
  /** The variants to run, one after the other, in one lab. */
  variants: Variant[];
  instances: number;
  /** A running lab's balancer (npm start); otherwise the simulator starts its own. */
  url?: string;
  adminUrl?: string;
  adminToken?: string;
  demoAccounts?: boolean;
  /** The simulator's own lab: what serves its public port (default the Node balancer). */
  balancer?: BalancerKind;
  progress?: boolean;
  onLine?: (name: string, line: string) => void;
  /** Set when the run should stop early (Ctrl-C): the lab is still closed. */
  signal?: AbortSignal;
}

const NEEDS_OWN_REDIS: readonly ScenarioName[] = ['redis-restart', 'redis-down'];

/** Starts (or connects to) a lab, runs every variant, closes what it started. */
export async function simulate(options: RunOptions): Promise<SimulationReport[]> {
  const first = options.variants[0];
  if (!first) throw new SimulationError('nothing to run: no variants');
  const ownRedis = NEEDS_OWN_REDIS.includes(options.scenario);
  let driver: LabDriver;
  if (options.url) {
    if (ownRedis) throw new SimulationError(`${options.scenario} stops and restarts Redis, so it needs a lab the simulator starts itself: drop --url`);
    driver = await connectLab(options.url, options.adminUrl ?? 'http://127.0.0.1:8081', options.adminToken);
  } else {
    driver = await startOwnLab({
      instances: options.instances,
      routing: first.routing,
      store: first.store,
      ...(ownRedis && { ownRedis: { appendOnly: first.appendOnly ?? false } }),
      ...(options.demoAccounts && { demoAccounts: true }),
      ...(options.variants.some((v) => v.revocation) && { revocation: true }),
      ...(options.balancer && { balancer: options.balancer }),
      ...(options.onLine && { onLine: options.onLine }),
    });
  }
  const onAbort = () => void driver.close();
  try {
    if (options.variants.some((v) => v.store === 'redis' || v.revocation) && !driver.hasRedis) throw new SimulationError(REDIS_MISSING);
    const perVariant = options.users * options.requests;
    const progress = new Progress(perVariant * options.variants.length, options.progress ?? process.stderr.isTTY === true);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const reports: SimulationReport[] = [];
    try {
      for (const variant of options.variants) {
        if (options.signal?.aborted) break;
        progress.stage(`${options.scenario === 'steady' ? '' : `${options.scenario}: `}${variant.label}`);
        reports.push(await runVariant(driver, options.scenario, variant, { ...options, onRequest: () => progress.tick() }));
      }
    } finally {
      progress.finish();
    }
    return reports;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    await driver.close();
  }
}
