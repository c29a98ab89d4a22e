import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashPassword } from '../../services/accounts.js';

/** The demo accounts of services/accounts.json, in the clear: virtual users log in with them. */
export const DEMO_CREDENTIALS: readonly { username: string; password: string; displayName: string }[] = [
  { username: 'testuser', password: 'testpass', displayName: 'Test User' },
  { username: 'ravi', password: 'gold-member', displayName: 'Ravi (Gold member)' },
  { username: 'alice', password: 'wonderland', displayName: 'Alice' },
  { username: 'bob', password: 'builder', displayName: 'Bob' },
];

/**
 * scrypt cost for the simulator's own accounts file. The real one (N=16384) costs
 * ~55 ms of CPU per login: 200 virtual users would spend 11 s just logging in, on
 * the same cores as the instances. N=1024 runs the same login code in ~3 ms.
 */
export const FAST_SCRYPT_COST = 1024;

/** Writes the demo accounts, hashed at FAST_SCRYPT_COST, to a temporary file for ACCOUNTS_FILE. */
export async function writeFastAccounts(): Promise<{ file: string; remove(): void }> {
  const dir = mkdtempSync(join(tmpdir(), 'coatcheck-sim-'));
  const file = join(dir, 'accounts.json');
  const accounts = await Promise.all(
    DEMO_CREDENTIALS.map(async ({ username, password, displayName }) => ({
      username,
      displayName,
      passwordHash: await hashPassword(password, FAST_SCRYPT_COST),
    })),
  );
  writeFileSync(file, JSON.stringify(accounts, null, 2));
  return { file, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
