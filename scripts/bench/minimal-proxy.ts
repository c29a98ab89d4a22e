import http from 'node:http';

// Not the lab's balancer: the least a reverse proxy on node:http can do per request
// (parse, forward over a keep-alive agent, stream the answer back; no retries, no
// header hygiene, no routing modes). The bench sets it beside the balancer and nginx,
// so the balancer's cost splits into "node:http itself" and "what we add on top".
const targets = (process.env.TARGETS ?? '').split(',').filter(Boolean).map((t) => new URL(t));
if (targets.length === 0) throw new Error('TARGETS is required: comma-separated http:// URLs');
const agent = new http.Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 256 });
let next = 0;

const server = http.createServer((req, res) => {
  const target = targets[next++ % targets.length]!;
  const upstream = http.request(
    { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers, agent },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    },
  );
  upstream.on('error', () => {
    if (!res.headersSent) res.writeHead(502);
    res.end();
  });
  req.pipe(upstream);
});

server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const { port } = server.address() as { port: number };
  process.send?.({ type: 'ready', instance: 'minimal-proxy', port });
});
process.once('disconnect', () => server.close());
process.once('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  agent.destroy();
});
