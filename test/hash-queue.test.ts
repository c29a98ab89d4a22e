import { describe, expect, it } from 'vitest';
import { HashQueue, HashQueueFullError } from '../services/hash-queue.js';

/** A task that finishes when the test says so, recording when it started. */
function gate(order: string[], name: string) {
  let open!: () => void;
  const done = new Promise<void>((resolve) => (open = resolve));
  return { task: () => (order.push(name), done), open };
}

describe('the password-hashing queue (bounded, fair over accounts)', () => {
  it('runs at most `concurrency` at once and serves the waiting accounts in turn, so a flood queues behind itself', async () => {
    const queue = new HashQueue({ concurrency: 1, perKey: 10, waiting: 100 });
    const order: string[] = [];
    const gates = Array.from({ length: 5 }, (_, i) => gate(order, `flood-${i}`));
    const runs = gates.map((g) => queue.run('flooder', g.task));
    const other = gate(order, 'other');
    const otherRun = queue.run('someone-else', other.task);
    expect(queue.size).toEqual({ running: 1, waiting: 5 });
    gates[0]!.open();
    await new Promise((r) => setImmediate(r));
    // The other account's check goes second, not sixth: it waited for one turn only.
    expect(order).toEqual(['flood-0', 'other']);
    other.open();
    for (const g of gates) g.open();
    await Promise.all([...runs, otherRun]);
    expect(order).toEqual(['flood-0', 'other', 'flood-1', 'flood-2', 'flood-3', 'flood-4']);
    expect(queue.size).toEqual({ running: 0, waiting: 0 });
  });

  it('refuses at once beyond `perKey` for one account, and beyond `waiting` in all', async () => {
    const queue = new HashQueue({ concurrency: 1, perKey: 2, waiting: 2 });
    const order: string[] = [];
    const a = [gate(order, 'a0'), gate(order, 'a1')];
    const runs = a.map((g) => queue.run('a', g.task));
    await expect(queue.run('a', async () => 'never')).rejects.toEqual(new HashQueueFullError('account'));
    const b = gate(order, 'b0');
    runs.push(queue.run('b', b.task));
    await expect(queue.run('c', async () => 'never')).rejects.toMatchObject({ scope: 'busy' });
    for (const g of [...a, b]) g.open();
    await Promise.all(runs);
    // Once the line is short again, everyone is served.
    expect(await queue.run('a', async () => 'served')).toBe('served');
  });

  it('a failing check frees its place', async () => {
    const queue = new HashQueue({ concurrency: 1, perKey: 1, waiting: 1 });
    await expect(queue.run('a', () => Promise.reject(new Error('scrypt failed')))).rejects.toThrow('scrypt failed');
    expect(await queue.run('a', async () => 1)).toBe(1);
  });
});
