/**
 * The session cookie's name and Secure flag follow the client's transport, which the
 * balancer reports in X-Forwarded-Proto (believed from trusted addresses only).
 *
 * Over HTTPS the cookie is `__Host-<name>`: the browser then insists on Secure, Path=/ and
 * no Domain, so neither a plain-HTTP page nor a sibling subdomain can plant or overwrite it.
 * Over HTTP (the workshop on localhost) it is `<name>` without Secure, or it would never come back.
 */
export const HOST_PREFIX = '__Host-';

/**
 * Over HTTPS only the `__Host-` cookie counts: a plain `<name>` cookie could have been set
 * by anyone who can talk plain HTTP to the browser (cookie tossing). Mutates `cookies`.
 */
export function readSessionCookie(cookies: Record<string, string | undefined>, name: string, https: boolean): void {
  if (!https) return;
  const value = cookies[HOST_PREFIX + name];
  if (value === undefined) delete cookies[name];
  else cookies[name] = value;
}

/** Renames our Set-Cookie lines to `__Host-<name>` and adds Secure, when the client used HTTPS. */
export function writeSessionCookie(lines: string[], name: string, https: boolean): string[] {
  if (!https) return lines;
  return lines.map((line) => {
    if (!line.startsWith(`${name}=`)) return line;
    const secured = /;\s*secure\s*(;|$)/i.test(line) ? line : `${line}; Secure`;
    return HOST_PREFIX + secured;
  });
}

/**
 * Every value the raw Cookie header carries under `name`, in the order the browser sent them.
 * The cookie parser keeps only the first, and that is the trap: a page on another port of the
 * same host (cookies ignore ports) can set `sid=<its own>; path=/cart`, and the browser sends the
 * longer path first. Two values under one name mean someone else wrote one of them.
 */
export function cookieValues(header: string | undefined, name: string): string[] {
  if (!header) return [];
  const values: string[] = [];
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) values.push(part.slice(eq + 1).trim());
  }
  return values;
}

/**
 * Set-Cookie lines that delete `name` at every path a tossed copy could sit on for this request
 * (`/logout/everywhere`: `/logout`, `/logout/`, `/logout/everywhere`), never at `/`, where ours
 * lives. Plain HTTP only: over HTTPS only `__Host-` cookies count, and those are Path=/ by rule.
 */
export function clearTossedCookies(name: string, path: string): string[] {
  const lines: string[] = [];
  // Our routes are a few plain words deep: anything else (a `;` would add attributes) is not cleared.
  const segments = path.split('?')[0]!.split('/').filter(Boolean).slice(0, 4);
  if (segments.some((segment) => !/^[\w.~-]+$/.test(segment))) return [];
  let prefix = '';
  segments.forEach((segment, index) => {
    prefix += `/${segment}`;
    const paths = index === segments.length - 1 ? [prefix] : [prefix, `${prefix}/`];
    for (const p of paths) lines.push(`${name}=; Path=${p}; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; SameSite=Lax`);
  });
  return lines;
}
