import { readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface StaticFile {
  body: Buffer;
  type: string;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
};

/** proxy/dashboard/, beside this file (npm run build copies it into dist/: scripts/build-assets.ts). */
export const DASHBOARD_DIR = fileURLToPath(new URL('./dashboard/', import.meta.url));

/** Read once at start-up: a handful of small files, served from memory. */
export function loadFiles(dir: string, names: readonly string[]): Map<string, StaticFile> {
  return new Map(names.map((name) => [name, { body: readFileSync(join(dir, name)), type: TYPES[extname(name)] ?? 'application/octet-stream' }]));
}

/** Same-origin scripts and styles only: the lab runs offline and loads nothing from the network. */
export const PAGE_CSP = "default-src 'self'; img-src 'self' data:; frame-src http: https:; frame-ancestors 'none'";
