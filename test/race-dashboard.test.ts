import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Lab } from '../scripts/lab.js';
import { raceCart } from '../proxy/clients/race-probe.js';
import { startTestLab } from './helpers/lab.js';

const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

// The dashboard's race block in a real headless browser, against a real lab in redis mode.
describe('the dashboard races a logout', () => {
  let lab: Lab;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    [lab, browser] = await Promise.all([
      startTestLab({ mode: 'redis', instances: 3 }),
      chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS }),
    ]);
    page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    page.on('pageerror', (err) => pageErrors.push(err.message));
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await lab?.close();
  });

  const text = (id: string) => page.locator(`#${id}`).textContent();

  /** Sets the guard with its checkbox, clicks a race button, and waits for the race to be counted. */
  async function race(guard: boolean, button: string, races: number) {
    await page.locator('#race-guard').setChecked(guard);
    await expect.poll(async () => (await lab.admin.raceState()).raceGuard).toBe(guard);
    await page.getByRole('button', { name: button }).click();
    await expect.poll(() => text('race-count'), { timeout: 20_000 }).toBe(String(races));
  }

  it('shows the logout undone with the guard off, and held with it on; the counters add up', async () => {
    await page.goto(lab.adminUrl);
    await expect.poll(() => page.locator('#race-guard').isChecked()).toBe(true);

    await race(false, 'Race a logout', 1);
    expect(await text('race-resurrected')).toBe('1');
    expect(await text('race-last')).toContain('logout undone');

    await race(true, 'Race a logout', 2);
    expect(await text('race-resurrected')).toBe('1');
    expect(await text('race-last')).toContain('logout held');

    await race(false, 'Race the cart', 3);
    expect(Number(await text('race-lost'))).toBeGreaterThan(0);

    await race(true, 'Race the cart', 4);
    expect(await text('race-last')).toMatch(/kept 10: 0 lost/);
    expect(pageErrors).toEqual([]);
  }, 60_000);

  it('an instance that restarts follows the lab\'s guard, not its own default', async () => {
    await lab.admin.setRaceGuard(false);
    const back = lab.waitForRestart('app-1');
    await lab.killInstance('app-1', 'SIGKILL');
    const instance = await back;
    // Straight at the restarted instance: three overlapping cart adds keep all three only while it is guarded.
    const kept = async () => (await raceCart({ url: instance.url, username: 'alice', password: 'wonderland', writers: 3, delayMs: 600 })).kept;
    await expect.poll(kept, { timeout: 30_000, interval: 100 }).toBeLessThan(3);
    await lab.admin.setRaceGuard(true);
    expect(await kept()).toBe(3);
  }, 60_000);
});
