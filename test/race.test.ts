import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Lab } from '../scripts/lab.js';
import { raceCart, raceLogout, type RaceOptions } from '../proxy/clients/race-probe.js';
import { startTestLab, waitFor } from './helpers/lab.js';

const WRITERS = 20;
const TRIES = 10;
const DELAY_MS = 2000;

/**
 * A lab whose instances' "holding this session" lines are counted: a race waits until every
 * writer of its try holds the session (read it from the store) before the logout is sent.
 */
async function raceLab(mode: 'redis' | 'memory', guard: boolean) {
  let holding = 0;
  const lab = await startTestLab({
    mode,
    // Memory mode: one instance, so every request of a session finds its one logbook.
    instances: mode === 'memory' ? 1 : 3,
    // Ten logins of one account at once: each counts as a possible failure until its password is checked.
    instanceEnv: { RACE_GUARD: String(guard), LOGIN_HASH_QUEUE_PER_ACCOUNT: '32', LOGIN_MAX_FAILURES: '50' },
    onLine: (_name, line) => {
      if (line.includes('lab slow request: holding this session')) holding++;
    },
  });
  // Counted from when the options are made, before any writer of the races that share them is sent.
  const options = (n: number): RaceOptions => {
    const target = holding + n;
    return {
      url: lab.url,
      username: 'testuser',
      password: 'testpass',
      writers: WRITERS,
      delayMs: DELAY_MS,
      held: () => waitFor(() => holding >= target, `${n} writers holding the session`, 20_000),
    };
  };
  return { lab, options };
}

/** `TRIES` races at once, each with its own login: the instances' log lines count for all of them together. */
function together<T>(run: () => Promise<T>): Promise<T[]> {
  return Promise.all(Array.from({ length: TRIES }, run));
}

for (const mode of ['redis', 'memory'] as const) {
  describe(`${mode} store`, () => {
    let lab: Lab;
    let options: (n: number) => RaceOptions;
    beforeAll(async () => ({ lab, options } = await raceLab(mode, true)), 60_000);
    afterAll(() => lab?.close());

    it(`keeps all ${WRITERS} concurrent cart adds, in each of ${TRIES} tries`, async () => {
      const o = options(WRITERS * TRIES);
      const results = await together(() => raceCart(o));
      expect(results.map((r) => r.kept)).toEqual(Array(TRIES).fill(WRITERS));
    }, 60_000);

    it(`leaves the old cookie at 401 after a logout racing ${WRITERS} slow cart adds, in each of ${TRIES} tries`, async () => {
      const o = options(WRITERS * TRIES);
      const results = await together(() => raceLogout(o));
      expect(results.map((r) => r.resurrected)).toEqual(Array(TRIES).fill(false));
      // The race did happen: writers that held the session when the logout came were refused.
      for (const r of results) expect(r.refused).toBeGreaterThan(0);
    }, 60_000);

    it('with the guard switched off: concurrent cart adds overwrite each other, in each try', async () => {
      expect((await lab.admin.setRaceGuard(false)).raceGuard).toBe(false);
      const o = options(WRITERS * TRIES);
      const results = await together(() => raceCart(o));
      for (const r of results) expect(r.kept).toBeLessThan(WRITERS);
    }, 60_000);

    it('with the guard switched off: a slow request undoes the logout, in each try', async () => {
      const o = options(WRITERS * TRIES);
      const results = await together(() => raceLogout(o));
      expect(results.map((r) => r.resurrected)).toEqual(Array(TRIES).fill(true));
      expect((await lab.admin.setRaceGuard(true)).raceGuard).toBe(true);
    }, 60_000);
  });
}
