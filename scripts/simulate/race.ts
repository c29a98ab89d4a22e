import { AdminError, type AdminClient } from '../../proxy/clients/admin-client.js';
import { naivePrediction, raceCart, raceLogout, RaceError, type RaceOptions } from '../../proxy/clients/race-probe.js';
import { DEMO_CREDENTIALS } from './accounts.js';
import { adminClient } from '../../proxy/clients/admin-client.js';
import { connectLab, SimulationError, startOwnLab, type LabDriver } from './lab-driver.js';
import type { RunOptions } from './run.js';
import { table } from './report.js';
import { VARIANTS, type Variant } from './scenarios.js';

export interface RaceSettings {
  /** Races of each kind per row, run at the same time, each with its own login. */
  tries: number;
  /** Concurrent slow POST /cart per race. */
  writers: number;
  delayMs: number;
  /** The guard settings to run: on (the default stores), off (naive read-modify-write), or both. */
  guards: boolean[];
}

export interface RaceRow {
  variant: string;
  guard: boolean;
  tries: number;
  writers: number;
  lostUpdates: number;
  lostPredicted: number;
  resurrected: number;
  resurrectedPredicted: number;
}

/** Per store: redis mode, and the memory store with sticky routing (every request of a session finds its logbook). */
export const RACE_VARIANTS: readonly Variant[] = [VARIANTS.redis, VARIANTS.sticky];

/** `tries` races at once; the demo accounts take turns, so no account sees a burst of logins. */
function atOnce<T>(driver: LabDriver, settings: RaceSettings, race: (o: RaceOptions) => Promise<T>): Promise<T[]> {
  return Promise.all(
    Array.from({ length: settings.tries }, (_, i) => {
      const { username, password } = DEMO_CREDENTIALS[i % DEMO_CREDENTIALS.length]!;
      return race({ url: driver.url, username, password, writers: settings.writers, delayMs: settings.delayMs });
    }),
  );
}

/** Every store and guard setting: lost cart adds and undone logouts, beside what naive read-modify-write predicts. */
export async function simulateRace(driver: LabDriver, admin: AdminClient, settings: RaceSettings, variants = RACE_VARIANTS): Promise<RaceRow[]> {
  const predicted = naivePrediction(settings.writers);
  const rows: RaceRow[] = [];
  const initial = (await admin.raceState()).raceGuard;
  try {
    for (const variant of variants) {
      await driver.configure(variant.routing, variant.store);
      for (const guard of settings.guards) {
        await admin.setRaceGuard(guard);
        const carts = await atOnce(driver, settings, raceCart);
        const logouts = await atOnce(driver, settings, raceLogout);
        rows.push({
          variant: variant.label,
          guard,
          tries: settings.tries,
          writers: settings.writers,
          lostUpdates: carts.reduce((sum, r) => sum + r.lost, 0),
          lostPredicted: predicted.lost * settings.tries,
          resurrected: logouts.filter((r) => r.resurrected).length,
          resurrectedPredicted: predicted.resurrected ? settings.tries : 0,
        });
      }
    }
  } catch (err) {
    if (err instanceof RaceError || err instanceof AdminError) throw new SimulationError(err.message);
    throw err;
  } finally {
    await admin.setRaceGuard(initial).catch(() => undefined);
  }
  return rows;
}

export function raceTable(title: string, rows: RaceRow[]): string {
  const of = (n: number, total: number) => `${n} / ${total}`;
  return [
    title,
    '',
    table([
      ['variant', 'race guard', 'lost cart adds', 'naive predicts', 'logouts undone', 'naive predicts'],
      ...rows.map((r) => [
        r.variant,
        r.guard ? 'on' : 'off',
        of(r.lostUpdates, r.tries * r.writers),
        of(r.lostPredicted, r.tries * r.writers),
        of(r.resurrected, r.tries),
        of(r.resurrectedPredicted, r.tries),
      ]),
    ]),
    '',
    'naive predicts: every writer read the session before any wrote it back, so one cart add survives',
    'and every logout is undone. The guard: a tombstone checked in the same step as each write, and the',
    'cart as its own structure changed atomically (services/stores/race-guard.ts).',
  ].join('\n');
}

/** The race scenario in the simulator's own lab (or a running one with --url). */
export async function simulateRaceLab(options: Pick<RunOptions, 'url' | 'adminUrl' | 'adminToken' | 'instances' | 'demoAccounts' | 'onLine'>, settings: RaceSettings): Promise<RaceRow[]> {
  const first = RACE_VARIANTS[0]!;
  const driver = options.url
    ? await connectLab(options.url, options.adminUrl ?? 'http://127.0.0.1:8081', options.adminToken)
    : await startOwnLab({
        instances: options.instances,
        routing: first.routing,
        store: first.store,
        ...(options.demoAccounts && { demoAccounts: true }),
        ...(options.onLine && { onLine: options.onLine }),
      });
  try {
    if (!driver.hasRedis) throw new SimulationError('the race scenario runs the redis store too: install redis-server or set REDIS_URL');
    return await simulateRace(driver, adminClient(driver.adminUrl, { token: options.adminToken, timeoutMs: 30_000 }), settings);
  } finally {
    await driver.close();
  }
}
