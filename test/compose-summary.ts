import type { Reporter, TestModule } from 'vitest/node';

/**
 * The closing lines of `npm run test:compose`: every check with its result, then one
 * "test:compose: N passed, N failed, N skipped" line. A failed beforeAll (the lab never came up)
 * counts as a failure, not as skipped checks.
 */
export default class ComposeSummary implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const counts = { passed: 0, failed: 0, skipped: 0 };
    const lines: string[] = [];
    for (const module of testModules) {
      const errors = [...module.errors(), ...[...module.children.allSuites()].flatMap((s) => s.errors())];
      for (const error of errors) lines.push(`  FAIL  ${error.message?.split('\n')[0] ?? 'error outside a check'}`);
      counts.failed += errors.length;
      for (const test of module.children.allTests()) {
        const { state } = test.result();
        const ms = test.diagnostic()?.duration;
        const took = ms === undefined ? '' : ` (${(ms / 1000).toFixed(1)} s)`;
        if (state === 'passed') counts.passed++;
        else if (state === 'failed') counts.failed++;
        else counts.skipped++;
        lines.push(`  ${state === 'passed' ? 'ok  ' : state === 'failed' ? 'FAIL' : 'skip'}  ${test.name}${took}`);
      }
    }
    process.stdout.write(`\n${lines.join('\n')}\ntest:compose: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped\n`);
  }
}
