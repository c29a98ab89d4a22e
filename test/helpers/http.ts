import http from 'node:http';

/** A tiny HTTP client with a cookie jar, as curl -b/-c or a browser would keep one. */
export class Client {
  readonly jar = new Map<string, string>();

  constructor(readonly baseUrl: string) {}

  cookieHeader(): string | undefined {
    if (this.jar.size === 0) return undefined;
    return [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  async request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
    const cookie = this.cookieHeader();
    const response = await fetch(this.baseUrl + path, {
      method,
      headers: {
        ...(body !== undefined && { 'content-type': 'application/json' }),
        ...(cookie && { cookie }),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const expired = attributes.some((a) => /^\s*max-age=0\s*$/i.test(a)) || value === '';
      if (expired) this.jar.delete(name);
      else this.jar.set(name, value);
    }
    const text = await response.text();
    let json: Record<string, unknown> = {};
    try {
      json = JSON.parse(text) as Record<string, unknown>;
    } catch {
      /* not JSON */
    }
    return { status: response.status, headers: response.headers, json, text, servedBy: response.headers.get('x-served-by') };
  }

  login(username = 'testuser', password = 'testpass') {
    return this.request('POST', '/login', { username, password });
  }

  profile() {
    return this.request('GET', '/profile');
  }

  logout() {
    return this.request('POST', '/logout');
  }
}

export interface LoginAnswer {
  status: number;
  servedBy: string | null;
  retryAfter: string | null;
  setCookie: string[];
}

/**
 * POST /login from a chosen loopback address: on Linux all of 127.0.0.0/8 is this machine, so
 * each test can be a different client to the balancer (it forwards the TCP peer address in
 * X-Forwarded-For) without any forged header. node:http, because fetch cannot pick its source address.
 */
export function loginFrom(baseUrl: string, localAddress: string, username: string, password: string, headers: Record<string, string> = {}): Promise<LoginAnswer> {
  const body = JSON.stringify({ username, password });
  return new Promise((resolve, reject) => {
    const request = http.request(
      `${baseUrl}/login`,
      { method: 'POST', localAddress, agent: false, headers: { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (response) => {
        response.resume();
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            servedBy: header(response.headers['x-served-by']),
            retryAfter: header(response.headers['retry-after']),
            setCookie: response.headers['set-cookie'] ?? [],
          }),
        );
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

function header(value: string | string[] | undefined): string | null {
  return value === undefined ? null : String(value);
}
