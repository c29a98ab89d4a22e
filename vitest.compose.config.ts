import { defineConfig } from 'vitest/config';

// `npm run test:compose`: the compose lab on a real Docker engine (test/compose.engine.ts, and its HAProxy variant).
// `npm test` does not include it: it needs an engine, and a cold build takes a minute.
export default defineConfig({
  test: {
    include: ['test/compose.engine.ts', 'test/compose-haproxy.engine.ts'],
    // One compose project, its checks in order; a cold `up --build` and a crash's restart are slow.
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 900_000,
    reporters: ['default', './test/compose-summary.ts'],
  },
});
