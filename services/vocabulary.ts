import { readFileSync } from 'node:fs';

/**
 * The words every layer shares: the lab's modes, the store and routing kinds, the
 * typed errors, and the readers that validate environment variables at start-up.
 * Imported by the instances, the balancer and the scripts alike, so a mode or an
 * error means the same thing everywhere.
 */

/** `sealed`: no logbook at all, the session travels in an encrypted cookie (services/sealed/). */
export type StoreKind = 'memory' | 'redis' | 'sealed';
export const STORE_KINDS: readonly StoreKind[] = ['memory', 'redis', 'sealed'];

/** What a sealed session's logout can rely on: nothing (`none`), or a revocation list in Redis. */
export type RevocationKind = 'none' | 'redis';
export const REVOCATION_KINDS: readonly RevocationKind[] = ['none', 'redis'];

export type RoutingKind = 'round-robin' | 'cookie' | 'ip-hash' | 'consistent-hash';
export const ROUTING_KINDS: readonly RoutingKind[] = ['round-robin', 'cookie', 'ip-hash', 'consistent-hash'];

export type ModeName = 'memory' | 'sticky' | 'redis' | 'stateless';

/** The lesson's three modes are presets of two independent settings. */
export const MODES: Record<ModeName, { routing: RoutingKind; store: StoreKind; summary: string }> = {
  memory: {
    routing: 'round-robin',
    store: 'memory',
    summary: 'round robin + a logbook per instance: logged in, then "randomly" logged out',
  },
  sticky: {
    routing: 'cookie',
    store: 'memory',
    summary: 'the balancer pins each browser to one instance: fine until that instance dies',
  },
  redis: {
    routing: 'round-robin',
    store: 'redis',
    summary: 'round robin + one shared logbook in Redis: every instance knows every session',
  },
  stateless: {
    routing: 'round-robin',
    store: 'sealed',
    summary: 'round robin + no logbook: the session is a sealed card in the cookie, any instance can read it',
  },
};
export const MODE_NAMES = Object.keys(MODES) as ModeName[];

/** The mode a pair of settings corresponds to, if any. */
export function modeOf(routing: RoutingKind, store: StoreKind): ModeName | null {
  return MODE_NAMES.find((m) => MODES[m].routing === routing && MODES[m].store === store) ?? null;
}

/**
 * The header the balancer adds to every request it forwards, holding TRUST_PROXY_TOKEN: the proof
 * an instance needs before it believes X-Forwarded-* (services/forwarded-proof.ts).
 */
export const PROXY_TOKEN_HEADER = 'x-coatcheck-proxy-token';

// Typed errors, mapped to HTTP status in one place each (services/app.ts, proxy/control/).

/** Start-up configuration is wrong; the message says which variable to change. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * The session store could not answer (Redis down, paused or too slow).
 * It must surface as 503, never as "no session": the session plugin would then
 * treat the user as anonymous and the user would be logged out for good.
 */
export class StoreUnavailableError extends Error {
  override name = 'StoreUnavailableError';
  readonly statusCode = 503;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

// Environment readers: each returns the fallback when the variable is unset or empty,
// and throws a ConfigError naming the variable when it is set to something unusable.

export type Env = Record<string, string | undefined>;

export function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name}=${raw} is not a whole number between ${min} and ${max}`);
  }
  return value;
}

export function port(env: Env, name: string, fallback: number): number {
  return int(env, name, fallback, 0, 65535);
}

export function positive(env: Env, name: string, fallback: number): number {
  return int(env, name, fallback, 1, Number.MAX_SAFE_INTEGER);
}

export function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new ConfigError(`${name}=${raw} is not one of: ${allowed.join(', ')}`);
  }
  return raw as T;
}

export function flag(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new ConfigError(`${name}=${raw} is not a boolean (use true or false)`);
}

export function list(raw: string | undefined): string[] {
  return (raw ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}

/**
 * A secret from `NAME`, or from the file named by `NAME_FILE` (Docker secrets, the compose
 * init step): secrets in files stay out of `docker inspect` and the process list.
 */
export function secret(env: Env, name: string): string | undefined {
  const file = env[`${name}_FILE`];
  if (file) {
    if (env[name]) throw new ConfigError(`${name} and ${name}_FILE are both set: keep one`);
    try {
      return readFileSync(file, 'utf8').trim() || undefined;
    } catch (err) {
      throw new ConfigError(`${name}_FILE=${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  }
  return env[name] || undefined;
}
