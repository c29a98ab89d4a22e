import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError } from './vocabulary.js';

export interface Account {
  username: string;
  displayName: string;
  /** scrypt$<N>$<salt base64>$<key base64>: never the password itself. */
  passwordHash: string;
}

export interface PublicUser {
  username: string;
  displayName: string;
}

const KEY_LENGTH = 32;
const COST = 16384;

function scryptAsync(password: string, salt: Buffer, cost: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, KEY_LENGTH, { N: cost, r: 8, p: 1 }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** A cheaper `cost` is for test and simulation fixtures only (see scripts/simulate/accounts.ts). */
export async function hashPassword(password: string, cost = COST): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt, cost);
  return `scrypt$${cost}$${salt.toString('base64')}$${key.toString('base64')}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, cost, salt, key] = stored.split('$');
  if (scheme !== 'scrypt' || !cost || !salt || !key) return false;
  const expected = Buffer.from(key, 'base64');
  const actual = await scryptAsync(password, Buffer.from(salt, 'base64'), Number(cost));
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/**
 * The one normalisation rule for usernames: Unicode NFKC, then lower case.
 * So "ＴｅｓｔＵｓｅｒ" (full-width) and "TestUser" name the same account as "testuser".
 */
export function normalizeUsername(username: string): string {
  return username.normalize('NFKC').toLowerCase();
}

export class AccountBook {
  private readonly accounts = new Map<string, Account>();
  // Unknown users are checked against this hash too, so a wrong username costs
  // the same time as a wrong password and the two cannot be told apart.
  private readonly decoyHash: Promise<string>;

  constructor(accounts: Account[]) {
    for (const account of accounts) this.accounts.set(normalizeUsername(account.username), account);
    this.decoyHash = hashPassword(randomBytes(16).toString('hex'));
  }

  static fromFile(path: string): AccountBook {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(path, 'utf8'));
    } catch (err) {
      throw new ConfigError(`cannot read accounts from ${path}: ${(err as Error).message}`);
    }
    if (!Array.isArray(parsed) || parsed.some((a) => !isAccount(a))) {
      throw new ConfigError(`${path} must be a JSON array of {username, displayName, passwordHash}`);
    }
    return new AccountBook(parsed as Account[]);
  }

  /** The user when username and password match, otherwise null (same time either way). */
  async authenticate(username: string, password: string): Promise<PublicUser | null> {
    const account = this.accounts.get(normalizeUsername(username));
    const ok = await verifyPassword(password, account?.passwordHash ?? (await this.decoyHash));
    return ok && account ? { username: account.username, displayName: account.displayName } : null;
  }
}

function isAccount(value: unknown): value is Account {
  const a = value as Account;
  return typeof a?.username === 'string' && typeof a.displayName === 'string' && typeof a.passwordHash === 'string';
}
