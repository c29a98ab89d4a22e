import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { nginxVersion } from './nginx.js';

const PACKAGES = ['fastify', '@fastify/session', '@fastify/cookie', 'ioredis', 'http-proxy', 'autocannon'];

function packageVersion(name: string): string | null {
  try {
    const file = new URL(`../../node_modules/${name}/package.json`, import.meta.url);
    return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
  } catch {
    return null;
  }
}

function redisVersion(): string | null {
  const out = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  return /v=(\S+)/.exec(out.stdout ?? '')?.[1] ?? null;
}

/** Where the figures came from: they mean little without it. */
export function machineInfo() {
  const cores = cpus();
  return {
    cores: cores.length,
    cpuModel: cores[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: `${process.platform} ${release()}`,
    loadAverageAtStart: loadavg().map((l) => Math.round(l * 100) / 100),
  };
}

export function versions() {
  return {
    node: process.version,
    ...Object.fromEntries(PACKAGES.map((p) => [p, packageVersion(p)])),
    'redis-server': redisVersion(),
    nginx: nginxVersion(),
  };
}
