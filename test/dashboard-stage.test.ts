import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Lab } from '../scripts/lab.js';
import { startRedisServer, type RedisServer } from '../scripts/lib/redis-server.js';
import { startTestLab, waitFor } from './helpers/lab.js';

// The dashboard as a room sees it, in real Chromium against a real lab: the stage (topology
// picture, logged-out plot, mode buttons) on one screen at projector sizes, marks on the plot
// where the lab changed, 503s as their own series, virtual users spread by their addresses, and
// no green UP after the lab is gone. A redis-server of its own: the Redis drill pauses every client.
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const SCREENS = [
  { width: 1280, height: 720 },
  { width: 1920, height: 1080 },
];

describe('the dashboard on a projector', () => {
  let redis: RedisServer;
  let lab: Lab;
  let labClosed = false;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    redis = await startRedisServer();
    [lab, browser] = await Promise.all([
      startTestLab({ mode: 'memory', instances: 3, redisUrl: redis.url }),
      chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS }),
    ]);
    page = await browser.newPage({ viewport: SCREENS[0]! });
    await page.goto(lab.adminUrl);
    await page.locator('#live', { hasText: /^live$/ }).waitFor();
  });
  afterAll(async () => {
    await browser?.close();
    if (!labClosed) await lab?.close();
    await redis?.stop();
  });

  /** Pixels of one colour on a canvas: a series or a mark was drawn, not only listed. */
  const pixels = (selector: string, [r, g, b]: [number, number, number]) =>
    page.evaluate(
      ({ selector, r, g, b }) => {
        const canvas = document.querySelector<HTMLCanvasElement>(selector)!;
        const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
        let n = 0;
        for (let i = 0; i < data.length; i += 4) if (data[i] === r && data[i + 1] === g && data[i + 2] === b) n++;
        return n;
      },
      { selector, r, g, b },
    );

  const card = (id: string) => page.locator(`article[data-id="${id}"]`);
  const requestsOn = async (id: string) => Number(await card(id).locator('dd').nth(3).textContent());

  for (const screen of SCREENS) {
    it(`shows the topology, the logged-out plot and the mode buttons without scrolling at ${screen.width}x${screen.height}`, async () => {
      await page.setViewportSize(screen);
      for (const selector of ['#topology', '#logout-plot', '.mode-button[data-mode="memory"]', '.mode-button[data-mode="redis"]', '#stream-start']) {
        const box = await page.locator(selector).boundingBox();
        expect(box, selector).not.toBeNull();
        expect(box!.y, selector).toBeGreaterThanOrEqual(0);
        expect(box!.x, selector).toBeGreaterThanOrEqual(0);
        expect(box!.y + box!.height, `${selector} bottom`).toBeLessThanOrEqual(screen.height);
        expect(box!.x + box!.width, `${selector} right`).toBeLessThanOrEqual(screen.width);
      }
      // The pictures are big enough to read from the back row.
      expect((await page.locator('#topology').boundingBox())!.height).toBeGreaterThan(screen.height * 0.3);
      expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
    });
  }

  it('says what happened when a logout lands on a desk that never had the session', async () => {
    const user = page.frameLocator('#user-frame');
    const lines = user.locator('#checks li');
    await user.getByRole('button', { name: 'Log in' }).click();
    await lines.filter({ hasText: 'logged in as' }).first().waitFor();
    // Round robin: the logout goes to the next desk, whose logbook is empty.
    await user.getByRole('button', { name: 'Log out' }).click();
    await lines.filter({ hasText: /logout reached app-\d, whose logbook did not have your session/ }).first().waitFor();
    expect(await lines.filter({ hasText: 'you were not logged in' }).count()).toBe(0);
  });

  it('spreads virtual users over every desk under ip-hash: each comes from its own address', async () => {
    await page.getByText('Routing and store separately').click();
    await page.locator('#routing').selectOption('ip-hash');
    await page.locator('#mode-detail', { hasText: 'routing ip-hash' }).waitFor();
    const before = await Promise.all(['app-1', 'app-2', 'app-3'].map(requestsOn));
    // npm start prints what the launcher did ('action' events), as the dashboard's log shows it.
    const actions: string[] = [];
    lab.on('action', (text: string) => actions.push(text));
    await page.locator('#stream-rate').selectOption('20');
    await page.getByRole('button', { name: 'Start', exact: true }).click();
    await page.locator('#stream-status', { hasText: /^running/ }).waitFor();
    for (const [i, id] of ['app-1', 'app-2', 'app-3'].entries()) {
      await waitFor(async () => (await requestsOn(id)) >= before[i]! + 5, `virtual users on ${id} under ip-hash`, 30_000);
    }
    expect(actions).toEqual(['virtual users started: 20 requests/s through the public port']);
  });

  it('marks a mode switch and a crash on the logged-out plot, where they happened', async () => {
    await page.getByRole('button', { name: 'redis', exact: true }).click();
    await page.locator('#plot-marks li[data-kind="mode"]', { hasText: 'redis' }).waitFor({ state: 'attached' });
    await page.getByRole('button', { name: 'Crash app-2' }).click();
    await page.locator('#plot-marks li[data-kind="crash"]', { hasText: 'app-2' }).waitFor({ state: 'attached' });
    await page.locator('#plot-marks li[data-kind="back"]', { hasText: 'app-2' }).waitFor({ state: 'attached', timeout: 20_000 });
    // Drawn, not only listed: the mode mark's colour is on the canvas, and nothing else there uses it.
    expect(await pixels('#logout-plot', [11, 87, 164])).toBeGreaterThan(20);
  });

  it('shows a Redis outage as 503s, its own series, not as logouts', async () => {
    // Redis mode, the virtual users still running from above.
    await page.locator('#redis-pause-seconds').selectOption('3');
    await page.getByRole('button', { name: 'Make Redis unavailable' }).click();
    await page.locator('#plot-marks li[data-kind="redis"]', { hasText: 'Redis paused 3 s' }).waitFor({ state: 'attached' });
    await waitFor(async () => Number(await page.locator('#b-unavailable').textContent()) > 0, '5xx from the desks counted', 20_000);
    // The 503 series' orange, which no mark and no other series uses.
    await waitFor(async () => (await pixels('#logout-plot', [230, 159, 0])) > 20, 'the 503 series on the plot', 20_000);
    await page.getByRole('button', { name: 'Stop', exact: true }).click();
    await page.locator('#stream-status', { hasText: /^stopped/ }).waitFor();
  });

  it('leaves room for two-digit numbers in the event log', async () => {
    await waitFor(async () => (await page.locator('#log li').count()) >= 10, 'ten log lines');
    const { padding, marker } = await page.evaluate(() => {
      const log = document.querySelector('#log')!;
      const probe = document.createElement('span');
      probe.textContent = '40. ';
      probe.style.font = getComputedStyle(log).font;
      document.body.append(probe);
      const width = probe.getBoundingClientRect().width;
      probe.remove();
      return { padding: parseFloat(getComputedStyle(log).paddingLeft), marker: width };
    });
    expect(padding).toBeGreaterThan(marker);
  });

  it('stops showing desks UP when the lab is gone', async () => {
    await card('app-1').locator('.state', { hasText: /^UP$/ }).waitFor();
    labClosed = true;
    await lab.close();
    for (const id of ['app-1', 'app-2', 'app-3']) await card(id).locator('.state', { hasText: /^NO DATA$/ }).waitFor();
    expect(await page.locator('.card.up').count()).toBe(0);
    await page.locator('#live', { hasText: /not answering|no data/ }).waitFor();
  });
});
