import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import type { BalancerConfig } from '../config.js';
import { connectionCaps } from './connection-caps.js';
import type { Logger } from './forwarding.js';

export interface PublicServers {
  server: http.Server;
  /** A second, HTTPS listener with the same handler (not listening yet); closed by close(). */
  attachTls(tls: { key: string; cert: string }): https.Server;
  close(): Promise<void>;
}

/**
 * The public listeners: the slowloris deadlines, malformed requests answered (never a crash),
 * and the connection caps. What a request becomes is the handler's business.
 */
export function createPublicServers(
  config: Pick<BalancerConfig, 'requestTimeoutMs' | 'headersTimeoutMs' | 'maxConnections' | 'maxConnectionsPerClient'>,
  onRequest: (req: IncomingMessage, res: ServerResponse) => void,
  log: Logger,
): PublicServers {
  // Slowloris: a client that trickles its headers is cut off after headersTimeout. Node checks
  // the deadlines only every connectionsCheckingInterval (30 s by default), hence the shorter one.
  const serverOptions = {
    requestTimeout: config.requestTimeoutMs,
    headersTimeout: config.headersTimeoutMs,
    connectionsCheckingInterval: Math.min(1000, Math.ceil(config.headersTimeoutMs / 4)),
  };
  // A malformed request or oversized headers: answer and close, never crash.
  const onClientError = (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (!socket.writable) return socket.destroy();
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const body = JSON.stringify({ error: 'bad_request', message: `malformed request (${err.code ?? 'parse error'})` });
    socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-type: application/json\r\nx-content-type-options: nosniff\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  };
  const capConnections = connectionCaps({ total: config.maxConnections, perClient: config.maxConnectionsPerClient }, (address) =>
    log.debug({ address }, 'connection refused: this client holds too many already'),
  );

  const server = http.createServer(serverOptions, onRequest);
  server.on('clientError', onClientError);
  capConnections(server);
  let tlsServer: https.Server | null = null;

  return {
    server,
    attachTls(tls) {
      tlsServer = https.createServer({ ...serverOptions, ...tls }, onRequest);
      tlsServer.on('clientError', onClientError);
      capConnections(tlsServer);
      // A TLS handshake that fails (a client that distrusts our self-signed certificate) is not a crash.
      tlsServer.on('tlsClientError', (err: Error) => log.warn({ err: err.message }, 'TLS handshake failed'));
      return tlsServer;
    },
    async close() {
      await Promise.all(
        [server, tlsServer].map(
          (s) =>
            new Promise<void>((resolve) => {
              if (!s?.listening) return resolve();
              s.close(() => resolve());
              s.closeAllConnections();
            }),
        ),
      );
    },
  };
}
