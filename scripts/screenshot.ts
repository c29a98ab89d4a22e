// npm run screenshot: the README's picture of the dashboard at 1280x720 (a projector), taken
// from a real lab in memory mode with virtual users running, in Debian's chromium (or CHROMIUM=/path/to/chrome).
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { cliErrors, type Cli } from './lib/cli.js';
import { startLab } from './lab.js';

const OUT = 'docs/dashboard.png';
const cli: Cli = cliErrors('screenshot', 'npm run screenshot writes docs/dashboard.png from a lab it starts');
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
if (!existsSync(executablePath)) cli.fail(`no browser at ${executablePath}: install chromium (apt-get install chromium) or set CHROMIUM`);

const lab = await startLab({ mode: 'memory', instances: 3, port: 0, adminPort: 0, onLine: () => {} });
const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  await page.goto(lab.adminUrl);
  await page.locator('#live', { hasText: /^live$/ }).waitFor();
  await page.locator('#stream-rate').selectOption('20');
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  // Enough seconds of traffic for the plots to draw a line: the stream reports its own count.
  await page.waitForFunction(() => Number(/; (\d+) requests/.exec(document.querySelector('#stream-status')?.textContent ?? '')?.[1] ?? 0) >= 300, null, { timeout: 60_000 });
  // The projector's screen, not the whole page: what the room sees without scrolling.
  await page.screenshot({ path: OUT });
  console.log(`wrote ${OUT}`);
} finally {
  await browser.close();
  await lab.close();
}
