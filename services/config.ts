import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { sealKeys } from './sealed/keys.js';
import { ConfigError, REVOCATION_KINDS, STORE_KINDS, flag, int, list, oneOf, port, secret, type Env, type RevocationKind, type StoreKind } from './vocabulary.js';
import { redisAddressFromEnv } from './stores/redis-address.js';

/** Everything an app instance needs, validated once at start-up. */
export interface AppConfig {
  instanceId: string;
  host: string;
  port: number;
  store: StoreKind;
  /**
   * Needed for the redis store; with the memory store it enables a runtime switch to redis.
   * redis://… or redis-sentinel://… (from REDIS_URL, or REDIS_SENTINELS + REDIS_SENTINEL_NAME).
   */
  redisUrl: string | undefined;
  /**
   * The write guard: after a session write, WAIT until this many replicas have it (at most
   * redisWaitMs), or answer 503. 0: off. A login acknowledged then survives a failover.
   */
  redisWaitReplicas: number;
  redisWaitMs: number;
  redisKeyPrefix: string;
  /** The first secret signs cookies; every secret verifies them (rotation). */
  sessionSecrets: string[];
  cookieName: string;
  sameSite: 'lax' | 'strict';
  /** Idle timeout: the store forgets a session this long after its last write. */
  sessionTtlSeconds: number;
  /** Absolute timeout: a login older than this is refused even if it is in use. */
  sessionAbsoluteSeconds: number;
  /**
   * Addresses whose X-Forwarded-* headers are believed: the balancer's, nobody else's. On one
   * machine that is 127.0.0.1, which every local process shares: see trustProxyToken.
   */
  trustProxy: string[];
  /**
   * When set, X-Forwarded-* are believed only with this token in X-Coatcheck-Proxy-Token (the
   * balancer adds it), so a local process talking to an instance port cannot forge its address.
   * Unset: the address in trustProxy is the only proof.
   */
  trustProxyToken: string | undefined;
  /** Bearer token for /_control routes (store switch, crash). Unset: those routes do not exist. */
  controlToken: string | undefined;
  accountsFile: string;
  sweepIntervalMs: number;
  logLevel: string;
  /** Rewrite the session and re-send the cookie on every request (bench row; off by default). */
  sessionRolling: boolean;
  /** Batch concurrent Redis commands into one round trip (on by default; off only to measure it). */
  redisAutoPipelining: boolean;
  /**
   * Login throttle (services/throttle/login.ts), in windows of loginWindowSeconds:
   * loginMaxFailures failed logins for one account from one client address, then that
   * address gets 429 for that account; loginMaxFailuresPerIp failed or refused logins from one address,
   * whatever the account, then 429 for everything from it. Never a lock on the account
   * itself: its owner, from another address, still logs in.
   */
  loginMaxFailures: number;
  loginMaxFailuresPerIp: number;
  loginWindowSeconds: number;
  /**
   * Successful logins per window of loginWindowSeconds: loginMaxPerAccount for one account from
   * anywhere, loginMaxPerIp from one client address. Beyond them, 429 before any scrypt.
   */
  loginMaxPerAccount: number;
  loginMaxPerIp: number;
  /** Live sessions one user may hold; a login beyond it ends the one due to expire first. */
  sessionMaxPerUser: number;
  /** Password checks (scrypt) at once; the rest wait in a fair queue, round robin over accounts. */
  loginHashConcurrency: number;
  /** Password checks one account may have running or waiting; the next gets 429 at once. */
  loginHashQueuePerAccount: number;
  /** Password checks waiting in all; the next gets 503 at once. */
  loginHashQueueMax: number;
  /** Keys of the sealed session card (stateless mode): the first seals, every one opens. */
  sealKeys: Buffer[];
  /** Where a sealed card's logout is recorded: nowhere (a copied card lives on), or a list in Redis. */
  revocation: RevocationKind;
  /** Largest Set-Cookie line a sealed card may take; browsers keep at least 4096 bytes per cookie. */
  sealedCookieMaxBytes: number;
  /**
   * Guard sessions against their own concurrent requests: no logout undone by a slow request,
   * no cart add lost (services/stores/race-guard.ts). Off only to show the race.
   */
  raceGuard: boolean;
  /**
   * Longest delay POST /cart?delay=<ms> may ask for, to make the race visible on purpose.
   * 0 (the default): the delay is refused. The lab launcher sets it; production never should.
   */
  labSlowMaxMs: number;
  /** On SIGTERM: longest wait for the balancer to see /health say "draining" before closing. */
  drainMaxMs: number;
}

export const DEFAULT_ACCOUNTS_FILE = fileURLToPath(new URL('./accounts.json', import.meta.url));

export function loadConfig(env: Env = process.env): AppConfig {
  const listenPort = port(env, 'PORT', 3000);
  const store = oneOf(env, 'STORE', STORE_KINDS, 'memory');
  const redisUrl = redisAddressFromEnv(env);
  if (store === 'redis' && !redisUrl) {
    throw new ConfigError('STORE=redis needs REDIS_URL (for example redis://127.0.0.1:6379) or REDIS_SENTINELS');
  }
  const sessionSecrets = list(secret(env, 'SESSION_SECRET'));
  if (sessionSecrets.length === 0) {
    throw new ConfigError(
      'SESSION_SECRET is required: one or more comma-separated secrets of 32+ characters ' +
        '(generate one with: node -e "console.log(require(\'crypto\').randomBytes(32).toString(\'hex\'))")',
    );
  }
  for (const secret of sessionSecrets) {
    if (secret.length < 32) {
      throw new ConfigError('SESSION_SECRET: every secret must be at least 32 characters long');
    }
  }
  const revocation = oneOf(env, 'REVOCATION', REVOCATION_KINDS, 'none');
  if (revocation === 'redis' && !redisUrl) {
    throw new ConfigError('REVOCATION=redis needs REDIS_URL (for example redis://127.0.0.1:6379)');
  }
  const controlToken = secret(env, 'CONTROL_TOKEN');
  if (controlToken !== undefined && controlToken.length < 16) {
    throw new ConfigError('CONTROL_TOKEN must be at least 16 characters long (or unset to disable /_control)');
  }
  const trustProxyToken = secret(env, 'TRUST_PROXY_TOKEN');
  if (trustProxyToken !== undefined && trustProxyToken.length < 16) {
    throw new ConfigError('TRUST_PROXY_TOKEN must be at least 16 characters long (or unset to trust TRUST_PROXY addresses alone)');
  }
  return {
    instanceId: env.INSTANCE_ID || hostname(),
    host: env.HOST || '127.0.0.1',
    port: listenPort,
    store,
    redisUrl,
    redisWaitReplicas: int(env, 'REDIS_WAIT_REPLICAS', 0, 0, 16),
    redisWaitMs: int(env, 'REDIS_WAIT_MS', 100, 1, 5000),
    redisKeyPrefix: env.REDIS_KEY_PREFIX || 'coatcheck:sess:',
    sessionSecrets,
    cookieName: env.COOKIE_NAME || 'sid',
    sameSite: oneOf(env, 'COOKIE_SAMESITE', ['lax', 'strict'] as const, 'lax'),
    sessionTtlSeconds: int(env, 'SESSION_TTL_SECONDS', 1800, 1, 30 * 24 * 3600),
    sessionAbsoluteSeconds: int(env, 'SESSION_ABSOLUTE_SECONDS', 8 * 3600, 1, 365 * 24 * 3600),
    trustProxy: env.TRUST_PROXY !== undefined ? list(env.TRUST_PROXY) : ['127.0.0.1', '::1'],
    trustProxyToken,
    controlToken,
    accountsFile: env.ACCOUNTS_FILE || DEFAULT_ACCOUNTS_FILE,
    sweepIntervalMs: int(env, 'SWEEP_INTERVAL_MS', 60_000, 100, 3_600_000),
    logLevel: oneOf(env, 'LOG_LEVEL', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, 'info'),
    sessionRolling: flag(env, 'SESSION_ROLLING', false),
    redisAutoPipelining: flag(env, 'REDIS_AUTOPIPELINING', true),
    loginMaxFailures: int(env, 'LOGIN_MAX_FAILURES', 5, 1, 1_000_000),
    loginMaxFailuresPerIp: int(env, 'LOGIN_MAX_FAILURES_PER_IP', 100, 1, 1_000_000),
    loginWindowSeconds: int(env, 'LOGIN_WINDOW_SECONDS', 60, 1, 24 * 3600),
    loginMaxPerAccount: int(env, 'LOGIN_MAX_PER_ACCOUNT', 120, 1, 1_000_000),
    loginMaxPerIp: int(env, 'LOGIN_MAX_PER_IP', 600, 1, 1_000_000),
    sessionMaxPerUser: int(env, 'SESSION_MAX_PER_USER', 100, 1, 1_000_000),
    loginHashConcurrency: int(env, 'LOGIN_HASH_CONCURRENCY', 2, 1, 64),
    loginHashQueuePerAccount: int(env, 'LOGIN_HASH_QUEUE_PER_ACCOUNT', 8, 1, 10_000),
    loginHashQueueMax: int(env, 'LOGIN_HASH_QUEUE_MAX', 64, 1, 100_000),
    drainMaxMs: int(env, 'DRAIN_MAX_MS', 3000, 0, 60_000),
    sealKeys: sealKeys(env, sessionSecrets),
    revocation,
    sealedCookieMaxBytes: int(env, 'SEALED_COOKIE_MAX_BYTES', 4096, 256, 65_536),
    raceGuard: flag(env, 'RACE_GUARD', true),
    labSlowMaxMs: int(env, 'LAB_SLOW_MAX_MS', 0, 0, 60_000),
  };
}
