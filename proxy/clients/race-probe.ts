/**
 * The race, played through the public API (POST /login, /cart?delay=, /logout, GET /profile):
 * one user's concurrent requests held open by the lab's slow request. The dashboard, the
 * simulator and the tests all run it from here.
 */

export interface RaceOptions {
  /** The balancer's (or an instance's) public URL. */
  url: string;
  username: string;
  password: string;
  /** Concurrent POST /cart requests with one cookie. */
  writers: number;
  /** How long each holds the session (POST /cart?delay=; the instances' LAB_SLOW_MAX_MS must allow it). */
  delayMs: number;
  /**
   * Resolves once every writer holds the session. Default: half the delay after they were sent,
   * a guess (the dashboard's race waits for the instances' own count, the tests for their log lines).
   */
  held?: () => Promise<void>;
}

export interface CartRace {
  writers: number;
  /** Items in the cart afterwards. */
  kept: number;
  lost: number;
}

export interface LogoutRace {
  writers: number;
  /** The old cookie still opens GET /profile after the logout. */
  resurrected: boolean;
  /** Writers answered 401 (the guard refused a write for a logged-out session). */
  refused: number;
}

/** What a naive read-modify-write predicts when every writer loads before any writes back. */
export function naivePrediction(writers: number): { lost: number; resurrected: boolean } {
  return { lost: Math.max(0, writers - 1), resurrected: writers > 0 };
}

export class RaceError extends Error {
  override name = 'RaceError';
}

async function call(url: string, method: string, path: string, cookie?: string, body?: object): Promise<{ status: number; json: Record<string, unknown>; cookie: string | undefined }> {
  const response = await fetch(url + path, {
    method,
    headers: { ...(cookie && { cookie }), ...(body && { 'content-type': 'application/json' }) },
    body: body && JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const json = (await response.json().catch(() => ({}))) as Record<string, unknown>;
  // Every cookie the login sets: the session's, and in sticky mode the balancer's pin.
  const pairs = response.headers.getSetCookie().map((line) => line.split(';')[0]!.trim());
  return { status: response.status, json, cookie: pairs.length > 0 ? pairs.join('; ') : undefined };
}

async function login(o: RaceOptions): Promise<string> {
  const answer = await call(o.url, 'POST', '/login', undefined, { username: o.username, password: o.password });
  if (answer.status !== 200 || !answer.cookie) throw new RaceError(`login as ${o.username} answered ${answer.status}: ${String(answer.json.message ?? '')}`);
  return answer.cookie;
}

/** Sends the writers; resolves with their statuses once all answered, after `held` let `then` run. */
async function slowWriters(o: RaceOptions, cookie: string, then: () => Promise<void>): Promise<number[]> {
  // A writer that fails is an answer too (status 0): none may reject unheard if the race stops early.
  const writers = Array.from({ length: o.writers }, (_, i) =>
    call(o.url, 'POST', `/cart?delay=${o.delayMs}`, cookie, { item: `item-${i + 1}` }).catch((err: Error) => ({ status: 0, json: { message: err.message }, cookie: undefined })),
  );
  await (o.held ? o.held() : new Promise((resolve) => setTimeout(resolve, o.delayMs / 2)));
  await then();
  const answers = await Promise.all(writers);
  const refusedDelay = answers.find((a) => a.status === 400);
  if (refusedDelay) throw new RaceError(`the instances refused the slow request: ${String(refusedDelay.json.message ?? '')}`);
  const failed = answers.find((a) => a.status === 0 || a.status >= 500);
  if (failed) throw new RaceError(`a slow cart add failed: ${String(failed.json.message ?? `HTTP ${failed.status}`)}`);
  return answers.map((a) => a.status);
}

/** `writers` concurrent cart adds with one cookie: how many items the cart keeps. */
export async function raceCart(o: RaceOptions): Promise<CartRace> {
  const cookie = await login(o);
  const statuses = await slowWriters(o, cookie, async () => {});
  if (statuses.includes(401)) {
    throw new RaceError('some cart adds found no session: in memory mode each instance keeps its own logbook; race in sticky or redis mode');
  }
  const profile = await call(o.url, 'GET', '/profile', cookie);
  const kept = Array.isArray(profile.json.cart) ? profile.json.cart.length : 0;
  await call(o.url, 'POST', '/logout', cookie);
  return { writers: o.writers, kept, lost: o.writers - kept };
}

/** A logout while `writers` cart adds hold the session: does the old cookie work afterwards? */
export async function raceLogout(o: RaceOptions): Promise<LogoutRace> {
  const cookie = await login(o);
  const statuses = await slowWriters(o, cookie, async () => {
    const answer = await call(o.url, 'POST', '/logout', cookie);
    if (answer.status !== 200) throw new RaceError(`logout answered ${answer.status}`);
  });
  const after = await call(o.url, 'GET', '/profile', cookie);
  // Resurrected: clean up, so the race leaves no live session behind.
  if (after.status === 200) await call(o.url, 'POST', '/logout', cookie);
  return { writers: o.writers, resurrected: after.status === 200, refused: statuses.filter((s) => s === 401).length };
}
