import { once } from 'node:events';
import http, { type IncomingHttpHeaders } from 'node:http';
import type net from 'node:net';

/** An instance stand-in that answers /health and records every other request it sees (url and headers). */
export async function startEcho(): Promise<{ url: string; server: http.Server; seen: { url: string; headers: IncomingHttpHeaders }[] }> {
  const seen: { url: string; headers: IncomingHttpHeaders }[] = [];
  const server = http.createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    if (req.url === '/health') return res.end(JSON.stringify({ instance: 'echo', store: 'memory', storeOk: true, sessions: 0 }));
    req.resume();
    req.on('end', () => {
      seen.push({ url: req.url ?? '', headers: req.headers });
      res.setHeader('x-served-by', 'echo');
      res.end(JSON.stringify({ url: req.url, headers: req.headers }));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, server, seen };
}
