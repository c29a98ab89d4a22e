import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    // Real processes and sockets: give them time, but never wait forever.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: more workers than that only makes process start-ups slower.
    maxWorkers: 2,
    reporters: ['default', './test/summary-reporter.ts'],
  },
});
