import http from 'node:http';

/** What one request of a virtual user came to. */
export interface Outcome {
  /** HTTP status; 0 when no answer came back (refused, reset, timed out). */
  status: number;
  /** The instance that answered (x-served-by), or null when the balancer answered itself. */
  servedBy: string | null;
  /** A 401 "not logged in" on a follow-up request of a user who had logged in: the bug. */
  loggedOut: boolean;
  path: string;
  method: 'GET' | 'POST';
  latencyMs: number;
  /** The `error` field of a JSON error answer, or the network error code. */
  error: string | null;
  /** Why a 401 said the user is not logged in (no_cookie, unknown_session, expired, ...). */
  reason: string | null;
  /** The answer told the browser to throw its session cookie away. */
  cookieCleared: boolean;
  /** The Retry-After header, if the answer had one (every 503 should). */
  retryAfter: string | null;
}

export interface VirtualUserOptions {
  baseUrl: string;
  username: string;
  password: string;
  /**
   * Source address on loopback (any of 127.0.0.0/8 on Linux): gives each user its own
   * "client IP", which is what ip-hash routing looks at.
   */
  localAddress?: string;
  /** The instances' session cookie name (COOKIE_NAME), to notice when it is cleared. */
  sessionCookie?: string;
  /** One follow-up in this many writes to the session (POST /cart); the rest read it (GET /profile). */
  writeEvery?: number;
  timeoutMs?: number;
}

const IDLE_SOCKET_MS = 4000;

/**
 * One browser: its own cookie jar (the session wristband and the balancer's
 * affinity cookie) and its own keep-alive connection, over real HTTP.
 */
export class VirtualUser {
  readonly username: string;
  readonly localAddress: string | undefined;
  /** name -> value, as a browser keeps them for this site. */
  readonly cookies = new Map<string, string>();
  /** The instance whose logbook got this user's session at login. */
  homeInstance: string | null = null;
  loggedIn = false;
  steps = 0;

  private readonly url: URL;
  private readonly password: string;
  private readonly agent: http.Agent;
  private readonly sessionCookie: string;
  private readonly writeEvery: number;
  private readonly timeoutMs: number;

  constructor(options: VirtualUserOptions) {
    this.url = new URL(options.baseUrl);
    if (this.url.protocol !== 'http:') throw new Error(`virtual users speak plain HTTP to the lab: ${options.baseUrl}`);
    this.username = options.username;
    this.password = options.password;
    this.localAddress = options.localAddress;
    this.sessionCookie = options.sessionCookie ?? 'sid';
    this.writeEvery = options.writeEvery ?? 5;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    // One connection per user, reused: a browser keeps its connection open too, and
    // without keep-alive every request would also pay a TCP handshake. The agent's
    // timeout closes it after 4 s idle, before a Node server's 5 s keepAliveTimeout
    // does: otherwise the first request after a pause (a scenario's event) can go out
    // on a socket the server is closing, and come back as ECONNRESET.
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 1, timeout: IDLE_SOCKET_MS });
  }

  async login(): Promise<Outcome> {
    const outcome = await this.request('POST', '/login', { username: this.username, password: this.password });
    if (outcome.status === 200) {
      this.loggedIn = true;
      this.homeInstance = outcome.servedBy;
    }
    return outcome;
  }

  /** One follow-up request, as a logged-in user clicking around: mostly reads, some writes. */
  step(): Promise<Outcome> {
    this.steps++;
    return this.steps % this.writeEvery === 0
      ? this.request('POST', '/cart', { item: `item-${this.steps}` })
      : this.request('GET', '/profile');
  }

  /**
   * Asks one instance directly, bypassing the balancer, whether it still knows this
   * user's session: is the wristband still in that desk's logbook?
   */
  probe(instanceUrl: string): Promise<Outcome> {
    return this.request('GET', '/profile', undefined, new URL(instanceUrl));
  }

  async logout(): Promise<Outcome> {
    const outcome = await this.request('POST', '/logout');
    this.loggedIn = false;
    return outcome;
  }

  /** Closes the user's connection. */
  close(): void {
    this.agent.destroy();
  }

  private cookieHeader(): string | undefined {
    if (this.cookies.size === 0) return undefined;
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }

  /** Applies Set-Cookie headers to the jar; true if the session cookie was cleared. */
  private applyCookies(lines: string[] | undefined): boolean {
    let cleared = false;
    for (const line of lines ?? []) {
      const [pair = '', ...attributes] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired =
        value === '' ||
        attributes.some((a) => {
          const [key = '', val = ''] = a.split('=').map((s) => s.trim());
          if (/^max-age$/i.test(key)) return Number(val) <= 0;
          if (/^expires$/i.test(key)) return Date.parse(val) <= Date.now();
          return false;
        });
      if (expired) {
        this.cookies.delete(name);
        if (name === this.sessionCookie) cleared = true;
      } else {
        this.cookies.set(name, value);
      }
    }
    return cleared;
  }

  private request(method: 'GET' | 'POST', path: string, body?: object, target: URL = this.url): Promise<Outcome> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const cookie = this.cookieHeader();
    const started = performance.now();
    const followUp = path !== '/login';
    return new Promise((resolve) => {
      const finish = (partial: Pick<Outcome, 'status' | 'servedBy' | 'error' | 'reason' | 'cookieCleared'>, retryAfter: string | null = null) =>
        resolve({
          ...partial,
          retryAfter,
          loggedOut: followUp && this.loggedIn && partial.status === 401 && partial.error === 'not_logged_in',
          path,
          method,
          latencyMs: performance.now() - started,
        });
      const req = http.request(
        {
          host: target.hostname,
          port: target.port || 80,
          method,
          path,
          agent: this.agent,
          // An IPv4 source needs an IPv4 destination: "localhost" may resolve to ::1 first.
          ...(this.localAddress && { localAddress: this.localAddress, family: 4 }),
          headers: {
            accept: 'application/json',
            ...(payload !== undefined && { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
            ...(cookie && { cookie }),
          },
        },
        (res) => {
          const cookieCleared = this.applyCookies(res.headers['set-cookie']);
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', (err: NodeJS.ErrnoException) =>
            finish({ status: 0, servedBy: null, error: err.code ?? err.message, reason: null, cookieCleared }),
          );
          res.on('end', () => {
            let json: { error?: unknown; reason?: unknown } = {};
            try {
              json = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof json;
            } catch {
              /* not JSON: the status says enough */
            }
            const servedBy = res.headers['x-served-by'];
            finish({
              status: res.statusCode ?? 0,
              servedBy: typeof servedBy === 'string' ? servedBy : null,
              error: typeof json.error === 'string' ? json.error : null,
              reason: typeof json.reason === 'string' ? json.reason : null,
              cookieCleared,
            }, typeof res.headers['retry-after'] === 'string' ? res.headers['retry-after'] : null);
          });
        },
      );
      req.setTimeout(this.timeoutMs, () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
      req.on('error', (err: NodeJS.ErrnoException) =>
        finish({ status: 0, servedBy: null, error: err.code ?? err.message, reason: null, cookieCleared: false }),
      );
      req.end(payload);
    });
  }
}
