// Prints an accounts.json entry for a new demo account:
//   npx tsx scripts/hash-password.ts <username> <password> [display name]
import { hashPassword } from '../services/accounts.js';

const [username, password, displayName] = process.argv.slice(2);
if (!username || !password) {
  console.error('usage: npx tsx scripts/hash-password.ts <username> <password> [display name]');
  process.exit(2);
}
const entry = { username, displayName: displayName ?? username, passwordHash: await hashPassword(password) };
console.log(JSON.stringify(entry, null, 2));
