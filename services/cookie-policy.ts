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
