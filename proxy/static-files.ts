import { existsSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface StaticFile {
  body: Buffer;
  type: string;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
};

/**
 * proxy/dashboard/: beside this file when run from source; tsc does not copy
 * it into dist/, so the compiled balancer looks in the source tree as well.
 */
export function dashboardDir(): string {
  const candidates = [new URL('./dashboard/', import.meta.url), new URL('../../proxy/dashboard/', import.meta.url)];
  for (const candidate of candidates) {
    const dir = fileURLToPath(candidate);
    if (existsSync(join(dir, 'index.html'))) return dir;
  }
  throw new Error(`the dashboard files were not found (looked in ${candidates.map((c) => fileURLToPath(c)).join(' and ')})`);
}

/** Read once at start-up: a handful of small files, served from memory. */
export function loadFiles(dir: string, names: readonly string[]): Map<string, StaticFile> {
  return new Map(names.map((name) => [name, { body: readFileSync(join(dir, name)), type: TYPES[extname(name)] ?? 'application/octet-stream' }]));
}

/** Same-origin scripts and styles only: the lab runs offline and loads nothing from the network. */
export const PAGE_CSP = "default-src 'self'; img-src 'self' data:; frame-src http: https:; frame-ancestors 'none'";

/**
 * The "be a user" page on the balancer's PUBLIC port, at /__lab/user. It is a
 * plain page that calls /login and /profile like any web page would, so the
 * browser keeps the real session cookie for the public origin. It has no admin
 * power: it is static, and the admin API is not reachable from this port.
 */
export function userPage(): (req: IncomingMessage, res: ServerResponse) => void {
  let routes = new Map<string, StaticFile>();
  let missing = '';
  try {
    const files = loadFiles(dashboardDir(), ['user.html', 'user.js', 'user.css']);
    routes = new Map([
      ['/__lab/user', files.get('user.html')!],
      ['/__lab/user.js', files.get('user.js')!],
      ['/__lab/user.css', files.get('user.css')!],
    ]);
  } catch (err) {
    // The balancer must proxy even where the page was not installed.
    missing = ` (${(err as Error).message})`;
  }
  return (req, res) => {
    const file = routes.get((req.url ?? '').split('?')[0] ?? '');
    if (!file || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify({ error: 'not_found', message: `the lab serves only GET /__lab/user here${missing}` }));
      return;
    }
    res.writeHead(200, {
      'content-type': file.type,
      'content-length': file.body.length,
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
      // Framed by the dashboard, which lives on the admin port (another origin, same site).
      'content-security-policy': "default-src 'self'; img-src 'self' data:",
    });
    res.end(req.method === 'HEAD' ? undefined : file.body);
  };
}
