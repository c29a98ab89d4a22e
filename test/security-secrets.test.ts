import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startNode, stopChild } from '../scripts/lib/processes.js';
import { Client } from './helpers/http.js';
import { parseSetCookie } from './helpers/hardening.js';

const OLD = randomBytes(32).toString('hex');
const NEW = randomBytes(32).toString('hex');

/**
 * A rolling secret rotation, frozen half-way: the lab's launcher gives every instance the
 * same secret, so these instances and their balancer are started one by one here.
 *   step 1 "old,new": still signs with old, already accepts new
 *   step 2 "new,old": signs with new, still accepts old
 *   step 3 "new":     old cookies are now refused
 */
describe('session secret rotation across instances (redis store, through the balancer)', () => {
  const children: ChildProcess[] = [];
  let url = '';
  const prefix = `test:${randomBytes(4).toString('hex')}:`;

  async function instance(id: string, secrets: string): Promise<string> {
    const { child, ready } = await startNode(
      'services/main.ts',
      {
        INSTANCE_ID: id,
        PORT: '0',
        STORE: 'redis',
        REDIS_URL: inject('redisUrl'),
        REDIS_KEY_PREFIX: prefix,
        SESSION_SECRET: secrets,
        // Strict is available too (not only the workshop's Lax), and honoured over plain HTTP.
        COOKIE_SAMESITE: 'strict',
        LOG_LEVEL: 'warn',
      },
      { name: id },
    );
    children.push(child);
    return `${id}=http://127.0.0.1:${ready.port}`;
  }

  beforeAll(async () => {
    const instances = await Promise.all([instance('step-1', `${OLD},${NEW}`), instance('step-2', `${NEW},${OLD}`), instance('step-3', NEW)]);
    const { child, ready } = await startNode(
      'proxy/main.ts',
      { PORT: '0', ADMIN_PORT: '0', INSTANCES: instances.join(','), ROUTING: 'round-robin', STORE: 'redis', LOG_LEVEL: 'warn', HEALTH_INTERVAL_MS: '500' },
      { name: 'balancer' },
    );
    children.push(child);
    url = `http://127.0.0.1:${ready.port}`;
  });
  afterAll(async () => {
    await Promise.all(children.map((c) => stopChild(c)));
  });

  /** Logs in until the instance we want served the login (round robin: at most three tries). */
  async function loginAt(instanceId: string): Promise<Client> {
    for (let i = 0; i < 6; i++) {
      const client = new Client(url);
      const login = await client.login();
      expect(login.status).toBe(200);
      if (login.servedBy === instanceId) return client;
    }
    throw new Error(`no login was served by ${instanceId}`);
  }

  async function statusByInstance(client: Client): Promise<Record<string, { status: number; reason: unknown }>> {
    const seen: Record<string, { status: number; reason: unknown }> = {};
    for (let i = 0; i < 6; i++) {
      const profile = await client.profile();
      seen[profile.servedBy!] = { status: profile.status, reason: profile.json.reason };
    }
    return seen;
  }

  it('a cookie signed with the old secret works on steps 1 and 2, and is refused (bad_signature) on step 3', async () => {
    const client = await loginAt('step-1');
    expect(await statusByInstance(client)).toEqual({
      'step-1': { status: 200, reason: undefined },
      'step-2': { status: 200, reason: undefined },
      'step-3': { status: 401, reason: 'bad_signature' },
    });
  });

  it('a cookie signed with the new secret works on every instance', async () => {
    const client = await loginAt('step-2');
    const seen = await statusByInstance(client);
    expect(Object.values(seen).map((s) => s.status)).toEqual([200, 200, 200]);
  });

  it('honours COOKIE_SAMESITE=strict over plain HTTP', async () => {
    const client = new Client(url);
    const login = await client.login();
    const cookie = parseSetCookie(login.headers.getSetCookie().find((c) => c.startsWith('sid='))!);
    expect(cookie.attributes.samesite).toBe('Strict');
  });

  it('refuses to start with a secret shorter than 32 characters, and says how to make one', async () => {
    const started = startNode('services/main.ts', { PORT: '0', SESSION_SECRET: `${NEW},too-short` }, { name: 'short-secret' });
    await expect(started).rejects.toThrow(/code 78[\s\S]*at least 32 characters/);
  });
});
