import type { IncomingHttpHeaders } from 'node:http';
import { PROXY_TOKEN_HEADER } from '../../services/vocabulary.js';

/**
 * Hop-by-hop headers (RFC 9110 7.6.1) describe one connection, the client's to us, and must
 * not travel on. Connection itself, and every header it names, are hop-by-hop by definition.
 */
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'proxy-authenticate', 'upgrade', 'te'];

/**
 * Names a client may list in Connection that we still need: the body's framing is read (and
 * rewritten) by the balancer itself, and Host routes nothing here but the instance logs it.
 */
const NOT_REMOVABLE = new Set(['host', 'content-length', 'transfer-encoding']);

/**
 * Headers that claim to say who the client is. Only the balancer may say that, through its own
 * X-Forwarded-* (http-proxy's xfwd): a forged Forwarded or X-Real-IP would be believed by any
 * instance or log reader that prefers them.
 */
const CLIENT_IDENTITY = ['forwarded', 'x-real-ip', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', PROXY_TOKEN_HEADER];

/**
 * Strips, in place, what must not reach an instance from a client's request headers. One
 * Connection value is left behind on purpose, "close" when the client asked for it: http-proxy
 * copies req.headers.connection into the client's response (its setConnection pass), so it must
 * say what Node will do with the client's socket. The forwarding code takes it off the request
 * to the instance (that connection is ours, kept alive by our agent).
 */
export function cleanRequestHeaders(headers: IncomingHttpHeaders): void {
  const tokens = connectionTokens(headers);
  for (const name of tokens) if (!NOT_REMOVABLE.has(name)) delete headers[name];
  // TE: trailers is end-to-end in practice (gRPC asks for trailers with it); any coding is not.
  const te = headers.te;
  for (const name of HOP_BY_HOP) delete headers[name];
  if (te !== undefined && String(te).trim().toLowerCase() === 'trailers') headers.te = 'trailers';
  if (tokens.includes('close')) headers.connection = 'close';
  for (const name of CLIENT_IDENTITY) delete headers[name];
  // http-proxy copies a request's Trailer header into the outgoing request, and Node throws
  // on it outside any error handler: one curl would take the balancer down.
  delete headers.trailer;
}

function connectionTokens(headers: IncomingHttpHeaders): string[] {
  return String(headers.connection ?? '')
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter(Boolean);
}

/** The same for an instance's response, before it reaches the client. */
export function cleanResponseHeaders(headers: IncomingHttpHeaders): void {
  // A Trailer header on a response without chunked encoding makes Node throw while writing it.
  if (headers['transfer-encoding'] !== 'chunked') delete headers.trailer;
  for (const name of connectionTokens(headers)) if (!NOT_REMOVABLE.has(name)) delete headers[name];
  // Hop-by-hop: a draining instance's "connection: close" is about our socket to it, not the
  // client's; its "keep-alive: timeout=72" would tell clients to reuse an idle connection for
  // 72 s, but our server closes it after 5 s: the next request would get ECONNRESET.
  for (const name of HOP_BY_HOP) delete headers[name];
}
