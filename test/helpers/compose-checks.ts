import { expect } from 'vitest';
import { Client } from './http.js';

/** Polls until `check` holds; the last value goes into the failure message. */
export async function until<T>(what: string, probe: () => Promise<T>, check: (value: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await probe().catch((err: unknown) => err as T);
    if (check(last)) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what}: not within ${timeoutMs} ms; last seen: ${JSON.stringify(last)}`);
}

/** Memory mode: logged in on one instance, "logged out" (401 unknown_session) on every other, each named. */
export async function expectMemoryBug(url: string, apps: string[]): Promise<void> {
  const client = new Client(url);
  const login = await client.login('ravi', 'gold-member');
  expect(login.status, login.text).toBe(200);
  const served: string[] = [];
  for (let i = 0; i < 2 * apps.length; i++) {
    const profile = await client.profile();
    served.push(profile.servedBy!);
    if (profile.servedBy === login.servedBy) expect(profile.status).toBe(200);
    else expect([profile.status, profile.json.reason]).toEqual([401, 'unknown_session']);
  }
  expect(new Set(served)).toEqual(new Set(apps));
}
