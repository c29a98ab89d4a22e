import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { cpuWindow, round, type CpuUse, type Tracked } from './cpu.js';

export interface LoadOptions {
  url: string;
  /** Cookie headers to rotate through, one per request. */
  cookies: string[];
  connections: number;
  durationSec: number;
  /** Processes whose CPU time is read around the measured window. */
  tracked: Tracked[];
  /** What each request is, when not the lookup (GET /profile). */
  request?: BenchRequest;
}

export interface BenchRequest {
  method: 'POST';
  path: string;
  /** A JSON body. */
  body: string;
}

/** One measured run: what the table shows, plus what it is derived from. */
export interface RunResult {
  requests: number;
  rps: number;
  ok: number;
  okRps: number;
  /** Responses by status code, e.g. { "200": 812, "401": 1604 }. */
  statuses: Record<string, number>;
  non2xx: number;
  errors: number;
  /** The errors by code, e.g. { "ECONNRESET": 1 }. */
  errorCodes: Record<string, number>;
  timeouts: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  wallSec: number;
  cpu: Record<string, CpuUse>;
}

function fire(options: LoadOptions, durationSec: number, errorCodes: Record<string, number> = {}): Promise<autocannon.Result> {
  const { cookies } = options;
  return new Promise((resolve, reject) => {
    const run = autocannon(
      {
        url: options.url,
        connections: options.connections,
        duration: durationSec,
        // A stuck server must not hang the bench: a timeout counts as an error instead.
        timeout: 10,
        requests: [
          {
            ...(options.request
              ? { method: options.request.method, path: options.request.path, body: options.request.body, headers: { 'content-type': 'application/json' } }
              : { method: 'GET' as const, path: '/profile' }),
            // Each request carries a random session's cookie: many users, not one. Random, not
            // in turn: a cookie counter in step with the balancer's round-robin counter would
            // send each session back to the instance that holds it, and hide the bug.
            setupRequest: (request) => {
              const cookie = cookies[Math.floor(Math.random() * cookies.length)]!;
              return { ...request, headers: { ...request.headers, cookie } };
            },
          },
        ],
      },
      (err, result) => (err ? reject(err) : resolve(result)),
    );
    // The count alone says nothing: keep what went wrong (ECONNRESET, a timeout...) beside it.
    run.on('reqError', (err: NodeJS.ErrnoException) => {
      const code = err.code ?? err.message;
      errorCodes[code] = (errorCodes[code] ?? 0) + 1;
    });
  });
}

/** A warm-up (not recorded), then one measured run with CPU read for every tracked process. */
export async function measure(options: LoadOptions, warmupSec: number): Promise<RunResult> {
  if (options.cookies.length === 0) throw new Error(`no session cookies to send to ${options.url}`);
  if (warmupSec > 0) await fire(options, warmupSec);
  const stop = cpuWindow(options.tracked);
  const started = performance.now();
  const errorCodes: Record<string, number> = {};
  const result = await fire(options, options.durationSec, errorCodes);
  const wallSec = (performance.now() - started) / 1000;
  const requests = result.requests.total;
  const statuses: Record<string, number> = {};
  for (const [code, stat] of Object.entries(result.statusCodeStats ?? {})) statuses[code] = stat.count ?? 0;
  const ok = result['2xx'];
  return {
    requests,
    rps: round(requests / result.duration, 1),
    ok,
    okRps: round(ok / result.duration, 1),
    statuses,
    non2xx: result.non2xx,
    errors: result.errors,
    errorCodes,
    timeouts: result.timeouts,
    latencyMs: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max },
    wallSec: round(wallSec, 3),
    cpu: stop(wallSec, requests),
  };
}
