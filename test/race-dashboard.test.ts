import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Lab } from '../scripts/lab.js';
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

  it('shows the logout undone with the guard off, and held with it on; the counters add up', async () => {
    await page.goto(lab.adminUrl);
    await expect.poll(() => page.locator('#race-guard').isChecked()).toBe(true);

    await page.locator('#race-guard').uncheck();
    await expect.poll(async () => (await lab.admin.raceState()).raceGuard).toBe(false);
    await page.getByRole('button', { name: 'Race a logout' }).click();
    await expect.poll(() => text('race-count'), { timeout: 20_000 }).toBe('1');
    expect(await text('race-resurrected')).toBe('1');
    expect(await text('race-last')).toContain('logout undone');

    await page.locator('#race-guard').check();
    await expect.poll(async () => (await lab.admin.raceState()).raceGuard).toBe(true);
    await page.getByRole('button', { name: 'Race a logout' }).click();
    await expect.poll(() => text('race-count'), { timeout: 20_000 }).toBe('2');
    expect(await text('race-resurrected')).toBe('1');
    expect(await text('race-last')).toContain('logout held');

    await page.getByRole('button', { name: 'Race the cart' }).click();
    await expect.poll(() => text('race-count'), { timeout: 20_000 }).toBe('3');
    expect(await text('race-lost')).toBe('0');
    expect(await text('race-last')).toMatch(/kept 10: 0 lost/);
    expect(pageErrors).toEqual([]);
  }, 60_000);
});
