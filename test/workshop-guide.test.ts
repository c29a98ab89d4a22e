import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisServer, type RedisServer } from '../scripts/lib/redis-server.js';
import { runGuide } from '../scripts/guide/run.js';
import { startTestLab } from './helpers/lab.js';

// docs/workshop.md as an instructor runs it: every console block, in order, against real labs
// (the acts' `npm start` options, on free ports), each command's output compared with the guide's.
describe('the workshop guide', () => {
  // A Redis of its own: the guide pauses Redis (CLIENT PAUSE stops every client of that server) and
  // lists its keys, which the suite's shared Redis must not see done to the other files' labs.
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('prints, command by command, what docs/workshop.md shows', async () => {
    const report = await runGuide({
      file: 'docs/workshop.md',
      root: resolve('.'),
      startLab: (request) =>
        startTestLab({
          mode: request.mode,
          instances: request.instances,
          redisUrl: redis.url,
          // The key names npm start uses, as the guide shows them.
          instanceEnv: { REDIS_KEY_PREFIX: 'coatcheck:sess:', LOG_LEVEL: 'warn' },
          ...(request.revocation && { revocation: request.revocation }),
          ...(request.balancer && { balancer: request.balancer }),
          ...(request.https && { balancerEnv: { LOG_LEVEL: 'warn', HEALTH_INTERVAL_MS: '200', HTTPS_PORT: '0' } }),
        }),
    });
    const failures = report.failures.map((f) => `docs/workshop.md:${f.line}  $ ${f.command}\n${f.message}`);
    expect(failures.join('\n\n')).toBe('');
    // Blocks not run say why (docker, the lab's own start, usage lines); counted so a new one is seen.
    expect(report.skipped.map((s) => s.reason).sort()).toEqual([
      'docker',
      'docker',
      'docker',
      'docker',
      'the lab itself: the runner starts one per act, as the acts say',
      'the lab itself: the runner starts one per act, as the acts say',
      'usage, with placeholders',
    ]);
    expect(report.ran).toBeGreaterThanOrEqual(40);
  }, 300_000);
});
