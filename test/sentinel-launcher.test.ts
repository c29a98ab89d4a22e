import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);

/** npm start with these arguments; resolves with its exit code and everything it printed. */
async function start(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'scripts/start.ts', '--port', '0', '--admin-port', '0', ...args], { env, timeout: 30_000 });
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const failed = err as { code: number; stdout: string; stderr: string };
    return { code: failed.code, output: failed.stdout + failed.stderr };
  }
}

describe('npm start -- --redis sentinel, when it cannot', () => {
  it('names the package when redis-sentinel is missing (redis-server alone is not enough)', async () => {
    const bin = mkdtempSync(join(tmpdir(), 'coatcheck-path-'));
    try {
      const redisServer = execFileSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).trim();
      symlinkSync(redisServer, join(bin, 'redis-server'));
      const env: NodeJS.ProcessEnv = { ...process.env, PATH: bin };
      delete env.REDIS_URL;
      delete env.REDIS_SENTINELS;
      const { code, output } = await start(['--mode', 'redis', '--redis', 'sentinel'], env);
      expect(code).toBe(1);
      expect(output).toMatch(/redis-sentinel was not found on PATH.*apt-get install redis-sentinel/s);
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });

  it('refuses a malformed Sentinel list, an unknown topology, and two Redis addresses (or Sentinels of its own and others) at once', async () => {
    const bad = await start(['--mode', 'redis', '--redis-sentinels', '127.0.0.1']);
    expect(bad.code).toBe(2);
    expect(bad.output).toContain('"127.0.0.1" is not host:port');
    const topology = await start(['--redis', 'cluster']);
    expect(topology.code).toBe(2);
    expect(topology.output).toContain('--redis must be single or sentinel');
    const both = await start(['--redis-url', 'redis://127.0.0.1:6379', '--redis-sentinels', '127.0.0.1:26379']);
    expect(both.code).toBe(2);
    expect(both.output).toContain('--redis-url and --redis-sentinels do not mix');
    const own = await start(['--redis', 'sentinel', '--redis-sentinels', '127.0.0.1:26379']);
    expect(own.code).toBe(2);
    expect(own.output).toContain('--redis sentinel starts Sentinels of its own');
  });
});
