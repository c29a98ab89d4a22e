/**
 * The request target, parsed once into the one path the balancer checks AND forwards.
 *
 * Why not just `req.url.startsWith('/_control')`: each hop normalises the target its own
 * way. http-proxy collapses slashes when it joins paths (`//_control` becomes `/_control`),
 * find-my-way percent-decodes before matching (`/%5Fcontrol` is `/_control`), and an
 * absolute-form target (`http://evil.example/_control`) is reduced to its path. A check on
 * the raw string passes all of them to the instance. So the balancer decides on a canonical
 * path, and sends exactly that path on: the instance sees what the balancer checked.
 */

export type Target =
  | { ok: true; /** Canonical path and the untouched query ("?..." or ""): what is forwarded. */ url: string; path: string }
  | { ok: false; status: 400 | 404; error: string; message: string };

// RFC 3986 unreserved characters: decoding them never changes what a path means.
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

const bad = (message: string): Target => ({ ok: false, status: 400, error: 'bad_request_target', message });

/**
 * Origin-form only (`/path?query`): absolute-form (`http://host/path`), authority-form
 * (`host:443`) and asterisk-form (`*`) are for forward proxies and OPTIONS *, not for us.
 */
export function canonicalTarget(raw: string): Target {
  if (!raw.startsWith('/')) return bad('the request target must be a path starting with "/" (no absolute URL, no host:port)');
  const q = raw.indexOf('?');
  const rawPath = q < 0 ? raw : raw.slice(0, q);
  const query = q < 0 ? '' : raw.slice(q);
  if (raw.includes('#')) return bad('a request target has no fragment ("#")');
  // A backslash is a slash to some servers and libraries (WHATWG URL treats it as one in http URLs).
  if (rawPath.includes('\\')) return bad('a backslash is not allowed in the path');

  let decoded = '';
  for (let i = 0; i < rawPath.length; i++) {
    const c = rawPath[i]!;
    if (c !== '%') {
      decoded += c;
      continue;
    }
    const hex = rawPath.slice(i + 1, i + 3);
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return bad('a "%" in the path must start a percent-encoded byte (%XX)');
    const char = String.fromCharCode(parseInt(hex, 16));
    // An encoded slash or backslash hides a segment boundary from us and reveals it to a decoder
    // behind us; an encoded "%" is double encoding (%255F decodes to %5F, then to "_").
    if (char === '/' || char === '\\') return bad('an encoded "/" or "\\" (%2F, %5C) is not allowed in the path');
    if (char === '%') return bad('double percent-encoding (%25) is not allowed in the path');
    decoded += UNRESERVED.test(char) ? char : `%${hex.toUpperCase()}`;
    i += 2;
  }

  // Duplicate slashes collapse, "." and ".." resolve (RFC 3986 remove_dot_segments; ".." stops at the root).
  const segments: string[] = [];
  const parts = decoded.split('/').slice(1);
  parts.forEach((segment, index) => {
    const last = index === parts.length - 1;
    if (segment === '' && !last) return;
    if (segment === '.') {
      if (last) segments.push('');
      return;
    }
    if (segment === '..') {
      segments.pop();
      if (last) segments.push('');
      return;
    }
    segments.push(segment);
  });
  const path = `/${segments.join('/')}`;

  // The instances' control routes are for the control plane only, in any spelling.
  if (isControlPath(path)) return { ok: false, status: 404, error: 'not_found', message: 'no such route' };
  return { ok: true, path, url: path + query };
}

/** `/_control` and everything under it, case-insensitively (on a path canonicalTarget made). */
export function isControlPath(path: string): boolean {
  // A prefix, not a segment: /_controlx is refused too, which costs nothing and leaves no gap.
  return path.toLowerCase().startsWith('/_control');
}
