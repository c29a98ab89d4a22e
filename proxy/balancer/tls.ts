import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../services/vocabulary.js';

export interface TlsPair {
  key: string;
  cert: string;
}

/** The configured pair, or a fresh self-signed one for 127.0.0.1/localhost (the workshop has no CA). */
export function loadTls(certFile: string | undefined, keyFile: string | undefined): TlsPair {
  if (certFile && keyFile) {
    try {
      return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
    } catch (err) {
      throw new ConfigError(`cannot read TLS_CERT/TLS_KEY: ${(err as Error).message}`);
    }
  }
  return selfSigned();
}

// node:crypto makes keys but not certificates; openssl is on every machine that has Redis.
function selfSigned(): TlsPair {
  const dir = mkdtempSync(join(tmpdir(), 'coatcheck-tls-'));
  try {
    const keyFile = join(dir, 'key.pem');
    const certFile = join(dir, 'cert.pem');
    const result = spawnSync(
      'openssl',
      [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-keyout', keyFile, '-out', certFile, '-days', '7',
        '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
      ],
      { encoding: 'utf8' },
    );
    if (result.error || result.status !== 0) {
      throw new ConfigError(
        `HTTPS_PORT is set but openssl could not make a self-signed certificate (${result.error?.message ?? result.stderr.trim()}); ` +
          'install openssl or set TLS_CERT and TLS_KEY',
      );
    }
    return { key: readFileSync(keyFile, 'utf8'), cert: readFileSync(certFile, 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
