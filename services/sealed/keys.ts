import { hkdfSync } from 'node:crypto';
import { ConfigError, list, secret, type Env } from '../vocabulary.js';

/** libsodium's secretbox key: 32 bytes. */
export const SEAL_KEY_BYTES = 32;

/**
 * The keys that seal and open the session card. The first seals; every key opens, and a card
 * opened with another than the first is sealed again with the first (rotation: add the new key
 * in front, wait one session lifetime, drop the old one; a card sealed with a dropped key is refused).
 *
 * From SEAL_KEYS (or SEAL_KEYS_FILE): comma-separated base64 keys of 32 bytes. Unset: one key per
 * SESSION_SECRET, derived with HKDF, so the instances of one lab, which share the session secret,
 * share the seal too, and rotating SESSION_SECRET rotates the seal with it.
 */
export function sealKeys(env: Env, sessionSecrets: readonly string[]): Buffer[] {
  const given = list(secret(env, 'SEAL_KEYS'));
  if (given.length === 0) return sessionSecrets.map(deriveSealKey);
  return given.map((text, index) => {
    const key = Buffer.from(text, 'base64');
    // Buffer.from ignores what is not base64: a typo would silently yield a shorter key.
    if (key.length !== SEAL_KEY_BYTES || key.toString('base64').replace(/=+$/, '') !== text.replace(/=+$/, '')) {
      throw new ConfigError(
        `SEAL_KEYS: key ${index + 1} is not ${SEAL_KEY_BYTES} bytes of base64 ` +
          `(generate one with: node -e "console.log(require('crypto').randomBytes(32).toString('base64'))")`,
      );
    }
    return key;
  });
}

export function deriveSealKey(sessionSecret: string): Buffer {
  // A separate key, not the secret itself: the secret also signs the wristband cookie.
  return Buffer.from(hkdfSync('sha256', sessionSecret, 'coatcheck', 'sealed session card', SEAL_KEY_BYTES));
}
