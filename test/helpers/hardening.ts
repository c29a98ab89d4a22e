import https from 'node:https';
import net from 'node:net';
import type { AdminState } from '../../proxy/clients/admin-client.js';
import type { Lab } from '../../scripts/lab.js';

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  setCookies: string[];
  json: Record<string, unknown>;
}

/**
 * One HTTPS request to the balancer's self-signed listener. node:https rather than fetch:
 * fetch cannot be told to accept one self-signed certificate.
 */
export function httpsRequest(url: string, options: { method?: string; headers?: Record<string, string>; body?: unknown } = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    const request = https.request(
      url,
      {
        method: options.method ?? 'GET',
        rejectUnauthorized: false,
        headers: { ...(body !== undefined && { 'content-type': 'application/json' }), ...options.headers },
      },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => {
          let json: Record<string, unknown> = {};
          try {
            json = JSON.parse(text) as Record<string, unknown>;
          } catch {
            /* not JSON */
          }
          resolve({ status: response.statusCode ?? 0, headers: response.headers, setCookies: response.headers['set-cookie'] ?? [], json });
        });
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

/**
 * Writes bytes exactly as given (no client library tidying them up) and reads until the server
 * closes. Send "Connection: close" for a normal request: the socket is not half-closed (a
 * half-closed client counts as gone, and its request is dropped).
 */
export function rawRequest(url: string, payload: string | Buffer, timeoutMs = 5000): Promise<{ status: number; text: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () => socket.write(payload));
    let text = '';
    socket.setEncoding('utf8');
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text }));
  });
}

/** The cookie attributes of one Set-Cookie line, lower-cased names: { name, value, path, httponly, ... }. */
export function parseSetCookie(line: string): { name: string; value: string; attributes: Record<string, string | true> } {
  const [pair, ...parts] = line.split(';');
  const eq = pair!.indexOf('=');
  const attributes: Record<string, string | true> = {};
  for (const part of parts) {
    const [key, ...rest] = part.trim().split('=');
    attributes[key!.toLowerCase()] = rest.length > 0 ? rest.join('=') : true;
  }
  return { name: pair!.slice(0, eq).trim(), value: pair!.slice(eq + 1).trim(), attributes };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** GET /api/state from the balancer's admin port. */
export function balancerState(lab: Lab): Promise<AdminState> {
  return lab.admin.state();
}
