import { EVENT_PATH_MAX } from '../balancer/forwarding.js';

/** One line of HAProxy's access log, in LOG_FORMAT (config.ts). */
export interface AccessEntry {
  backend: string;
  /** The instance that answered; null when HAProxy answered itself (a 413, a 503 with no instance up). */
  server: string | null;
  status: number;
  /** Connection retries; a redispatch to another instance shows as "+N". */
  retries: number;
  method: string;
  path: string;
}

/** Parses a line written with LOG_FORMAT ("%b %s %ST %rc %HM %HPO"); null for anything else. */
export function parseAccessLine(line: string): AccessEntry | null {
  const match = /^(\S+) (\S+) (\d{3}|-1) \+?(\d+) (\S+) (\S*)$/.exec(line);
  if (!match) return null;
  const [, backend, server, status, retries, method, path] = match as unknown as [string, string, string, string, string, string, string];
  const shortPath = path.length <= EVENT_PATH_MAX ? path : `${path.slice(0, EVENT_PATH_MAX - 1)}…`;
  return { backend, server: server === '<NOSRV>' ? null : server, status: Number(status), retries: Number(retries), method, path: shortPath };
}
