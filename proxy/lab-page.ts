import type { FrontRoute } from './balancer/index.js';
import { DASHBOARD_DIR, loadFiles, type StaticFile } from './static-files.js';

/**
 * The "be a user" page on the balancer's PUBLIC port, at /__lab/user. It is a plain page
 * that calls /login and /profile like any web page would, so the browser keeps the real
 * session cookie for the public origin. It has no admin power: it is static, and the
 * admin API is not reachable from this port. Served in front of the balancer, which
 * knows nothing about it.
 */
export function labPage(options: { frameAncestors: () => readonly string[] } = { frameAncestors: () => [] }): FrontRoute {
  let routes = new Map<string, StaticFile>();
  let missing = '';
  try {
    const files = loadFiles(DASHBOARD_DIR, ['user.html', 'user.js', 'user.css']);
    routes = new Map([
      ['/__lab/user', files.get('user.html')!],
      ['/__lab/user.js', files.get('user.js')!],
      ['/__lab/user.css', files.get('user.css')!],
    ]);
  } catch (err) {
    // The balancer must proxy even where the page was not installed.
    missing = ` (${(err as Error).message})`;
  }
  return (req, res, path) => {
    if (!path.startsWith('/__lab/')) return false;
    const file = routes.get(path);
    if (!file || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'application/json; charset=utf-8', 'x-content-type-options': 'nosniff' });
      res.end(JSON.stringify({ error: 'not_found', message: `the lab serves only GET /__lab/user here${missing}` }));
      return true;
    }
    res.writeHead(200, {
      'content-type': file.type,
      'content-length': file.body.length,
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
      // Framed by the dashboard, which lives on the admin port (another origin, same site), and by
      // nobody else: a page that could frame it could click the visitor into a demo account.
      'content-security-policy': `default-src 'self'; img-src 'self' data:; frame-ancestors ${[...options.frameAncestors()].join(' ') || "'none'"}`,
    });
    res.end(req.method === 'HEAD' ? undefined : file.body);
    return true;
  };
}

/**
 * The origins a browser may see the dashboard at: the loopback names on the admin port (docker
 * compose publishes it on 127.0.0.1 at the same port), and ADMIN_HOST itself when it names one address.
 */
export function dashboardOriginsFor(adminHost: string, adminPort: number): string[] {
  // No IPv6 literal: CSP source expressions cannot name one (Chromium drops the whole expression).
  const origins = ['127.0.0.1', 'localhost'].map((host) => `http://${host}:${adminPort}`);
  const named = /^[\w.-]+$/.test(adminHost) && adminHost !== '0.0.0.0' ? `http://${adminHost}:${adminPort}` : undefined;
  if (named && !origins.includes(named)) origins.push(named);
  return origins;
}
