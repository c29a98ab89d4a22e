import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runGuide } from '../scripts/guide/run.js';
import { startTestLab } from './helpers/lab.js';

// README's curl sections as a newcomer runs them: every console block, in order, against a fresh
// lab on free ports, each command's output compared with what the README shows.
describe("the README's commands", () => {
  it('print what README.md shows', async () => {
    const report = await runGuide({
      file: 'README.md',
      root: resolve('.'),
      startLab: (request) => startTestLab({ mode: request.mode, instances: request.instances }),
    });
    const failures = report.failures.map((f) => `README.md:${f.line}  $ ${f.command}\n${f.message}`);
    expect(failures.join('\n\n')).toBe('');
    expect(report.skipped.map((s) => s.reason).sort()).toEqual(['docker', 'other labs', 'the lab itself']);
    expect(report.ran).toBeGreaterThanOrEqual(10);
  }, 180_000);
});
