import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../lib/free-port.js';

export const NGINX_MISSING = 'skipped: nginx not installed';

/** The nginx binary, or null when there is none (the nginx rows are then skipped, and say so). */
export function findNginx(): string | null {
  for (const candidate of ['nginx', '/usr/sbin/nginx', '/usr/local/sbin/nginx']) {
    if (spawnSync(candidate, ['-v'], { stdio: 'ignore' }).status === 0) return candidate;
  }
  return null;
}

export function nginxVersion(): string | null {
  const binary = findNginx();
  if (!binary) return null;
  const out = spawnSync(binary, ['-v'], { encoding: 'utf8' });
  return /nginx\/(\S+)/.exec(out.stderr ?? '')?.[1] ?? null;
}

export interface Nginx {
  url: string;
  pid: number;
  dir: string;
  stop(): Promise<void>;
}

/**
 * The peer the balancer is compared with: one nginx process (no master, one worker's
 * work), round robin over the same instances, keep-alive to them, and the same
 * X-Forwarded-* headers the balancer adds, so the instances do the same work either way.
 */
export function nginxConfig(dir: string, port: number, upstreams: string[]): string {
  const servers = upstreams.map((u) => `    server ${new URL(u).host};`).join('\n');
  return `daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  # By default nginx closes a client's kept-alive connection after its 1000th request; a load
  # generator may already be writing the next request on it, which then fails with ECONNRESET.
  # The Node balancer never closes a busy connection, so neither does its peer here.
  keepalive_requests 1000000;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream coatcheck {
${servers}
    keepalive 256;
  }
  server {
    listen 127.0.0.1:${port};
    # Start-up check: only this nginx knows its own directory (another process may hold a port found free).
    location = /__coatcheck-nginx { return 200 "${dir}"; }
    location / {
      proxy_pass http://coatcheck;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Port $server_port;
      proxy_set_header X-Forwarded-Host $http_host;
    }
  }
}
`;
}

export async function startNginx(upstreams: string[]): Promise<Nginx> {
  const binary = findNginx();
  if (!binary) throw new Error(NGINX_MISSING);
  // nginx cannot be told to pick a free port: one found free a moment ago may be taken when it binds.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startNginxOnce(binary, upstreams, await freePort());
    } catch (err) {
      if (attempt >= 5 || !/Address already in use/.test((err as Error).message)) throw err;
    }
  }
}

async function startNginxOnce(binary: string, upstreams: string[], port: number): Promise<Nginx> {
  const dir = mkdtempSync(join(tmpdir(), 'coatcheck-nginx-'));
  mkdirSync(join(dir, 'logs'));
  writeFileSync(join(dir, 'nginx.conf'), nginxConfig(dir, port, upstreams));
  // -e: nginx opens its default error log before reading the config; keep even that in our directory.
  const child = spawn(binary, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const url = `http://127.0.0.1:${port}`;

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        child.kill('SIGQUIT'); // graceful shutdown
      });
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`nginx exited at start-up:\n${output}`);
    }
    const answered = await fetch(`${url}/__coatcheck-nginx`, { signal: AbortSignal.timeout(500) }).then(
      async (response) => (await response.text()) === dir,
      () => false,
    );
    if (answered) return { url, pid: child.pid!, dir, stop };
    await new Promise((r) => setTimeout(r, 50));
  }
  await stop();
  throw new Error(`nginx on port ${port} did not answer within 10 s:\n${output}`);
}
