import type { FrontRoute } from './balancer/index.js';
import { DASHBOARD_DIR, loadFiles, type StaticFile } from './static-files.js';

/**
 * The "be a user" page on the balancer's PUBLIC port, at /__lab/user. It is a plain page
 * that calls /login and /profile like any web page would, so the browser keeps the real
 * session cookie for the public origin. It has no admin power: it is static, and the
 * admin API is not reachable from this port. Served in front of the balancer, which
 * knows nothing about it.
 */
export function labPage(): FrontRoute {
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
      res.writeHead(404, { 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify({ error: 'not_found', message: `the lab serves only GET /__lab/user here${missing}` }));
      return true;
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
    return true;
  };
}
