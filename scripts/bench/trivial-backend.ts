import http from 'node:http';

// The smallest honest backend: one fixed JSON answer, keep-alive, no framework.
// Behind the balancer it shows what the proxy itself costs per request.
const body = JSON.stringify({ ok: true, store: 'memory', storeOk: true, sessions: 0, instance: 'trivial' });
const server = http.createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
});
server.keepAliveTimeout = 65_000;

server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const { port } = server.address() as { port: number };
  process.send?.({ type: 'ready', instance: 'trivial', port });
});
process.once('disconnect', () => server.close());
process.once('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
});
