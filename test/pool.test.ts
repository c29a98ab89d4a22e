import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Pool, type HealthReportEvent } from '../proxy/balancer/pool.js';

/** A stand-in instance whose /health answers whatever `answer` says at the time of the check. */
async function instance(answer: { status: number; body: object }) {
  const server = http.createServer((_req, res) => {
    // No kept-alive socket: once the server is closed, the next check meets a closed port.
    res.writeHead(answer.status, { 'content-type': 'application/json', connection: 'close' });
    res.end(JSON.stringify(answer.body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, answer, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe('the pool: which instances are in the rotation', () => {
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    await Promise.all(closers.splice(0).map((close) => close()));
  });

  it('is in the rotation only when healthy AND admitted; a new instance waits for its first check', async () => {
    const a = await instance({ status: 200, body: { instance: 'app-1', store: 'memory' } });
    closers.push(a.close);
    const pool = new Pool([], 1000);
    const backend = pool.add({ id: 'app-1', url: a.url }, false);
    expect(backend.up).toBe(false);
    const reports: HealthReportEvent[] = [];
    pool.on('report', (r) => reports.push(r));
    await pool.check(backend);
    expect(backend.healthy).toBe(true);
    expect(backend.up).toBe(false);
    backend.admitted = true;
    expect(backend.up).toBe(true);
    await pool.check(backend);
    expect(reports.map((r) => [r.report.instance, r.generation])).toEqual([
      ['app-1', 1],
      ['app-1', 2],
    ]);
  });

  it('a refused connection takes it out at once; one failed check does not, two in a row do', async () => {
    const a = await instance({ status: 200, body: {} });
    const pool = new Pool([{ id: 'app-1', url: a.url }], 1000);
    const [backend] = pool.backends;
    const downs: string[] = [];
    pool.on('down', (_b, reason) => downs.push(reason));

    a.answer.status = 500;
    await pool.check(backend!);
    expect(backend!.up).toBe(true);
    await pool.check(backend!);
    expect(backend!.up).toBe(false);
    expect(downs).toEqual(['/health answered 500']);

    a.answer.status = 200;
    await pool.check(backend!);
    expect(backend!.up).toBe(true);
    await a.close();

    // Nothing listens there any more: refused, out at the first check.
    await pool.check(backend!);
    expect(backend!.up).toBe(false);
    expect(downs).toEqual(['/health answered 500', 'connection refused']);
  });

  it('an instance that says "draining" is out at once, before it closes its port', async () => {
    const a = await instance({ status: 503, body: { status: 'draining' } });
    closers.push(a.close);
    const pool = new Pool([{ id: 'app-1', url: a.url }], 1000);
    await pool.check(pool.backends[0]!);
    expect(pool.backends[0]!.up).toBe(false);
    expect(pool.backends[0]!.lastError).toMatch(/draining/);
  });

  it('says nothing of an instance removed while its check was in flight', async () => {
    const a = await instance({ status: 200, body: {} });
    closers.push(a.close);
    const pool = new Pool([{ id: 'app-1', url: a.url }], 1000);
    const reports: HealthReportEvent[] = [];
    pool.on('report', (r) => reports.push(r));
    const checking = pool.check(pool.backends[0]!);
    expect(pool.remove('app-1')).toBe(true);
    await checking;
    expect(reports).toEqual([]);
    expect(pool.remove('app-1')).toBe(false);
  });
});
