import type { Redis } from 'ioredis';

export interface ReplicaView {
  address: string;
  /** online, wait_bgsave, send_bulk… as the primary reports it. */
  state: string;
  offset: number;
  /** Bytes of the primary's replication stream this replica has not confirmed yet. */
  lagBytes: number;
  /** Seconds since its last acknowledgement (Redis reports whole seconds). */
  lagSeconds: number;
}

export interface TopologyView {
  /** The node the control plane's connection reached through Sentinel: the primary. */
  primary: string | null;
  primaryOffset: number | null;
  replicas: ReplicaView[];
  error: string | null;
  at: number;
}

/** The figures of INFO server + replication on a primary (pure, so it is unit-tested on text). */
export function parseReplication(info: string, host = '127.0.0.1'): Omit<TopologyView, 'error' | 'at'> {
  const fields = new Map<string, string>();
  for (const line of info.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  const port = fields.get('tcp_port');
  const offset = Number(fields.get('master_repl_offset'));
  const primaryOffset = Number.isFinite(offset) ? offset : null;
  const replicas: ReplicaView[] = [];
  for (const [key, value] of fields) {
    if (!/^slave\d+$/.test(key)) continue;
    const parts = new Map(value.split(',').map((pair) => pair.split('=') as [string, string]));
    const replicaOffset = Number(parts.get('offset') ?? 0);
    replicas.push({
      address: `${parts.get('ip') ?? '?'}:${parts.get('port') ?? '?'}`,
      state: parts.get('state') ?? 'unknown',
      offset: replicaOffset,
      lagBytes: primaryOffset === null ? 0 : Math.max(0, primaryOffset - replicaOffset),
      lagSeconds: Number(parts.get('lag') ?? 0),
    });
  }
  return { primary: fields.get('role') === 'master' && port ? `${host}:${port}` : null, primaryOffset, replicas };
}

/**
 * Which node is primary and how far behind each replica is, read once a second from the primary
 * (INFO replication is current; Sentinel's copy of the offsets is refreshed only every 10 s).
 * Only for a Sentinel address: a single Redis has no topology worth a block on the dashboard.
 */
export class TopologyWatch {
  latest: TopologyView | null = null;
  private readonly timer: NodeJS.Timeout;
  private busy = false;

  constructor(
    private readonly client: Redis,
    intervalMs = 1000,
  ) {
    this.timer = setInterval(() => this.refresh(), intervalMs);
    this.timer.unref();
    this.refresh();
  }

  private refresh(): void {
    if (this.busy) return;
    // Without an offline queue a command fails at once while (re)connecting: say what is going on.
    if (this.client.status !== 'ready') {
      this.latest = { primary: null, primaryOffset: null, replicas: [], error: `no primary known yet (connection ${this.client.status})`, at: Date.now() };
      return;
    }
    this.busy = true;
    this.client
      .info('server', 'replication')
      .then(
        // The address Sentinel gave the connection (a container's, under compose), not the node's own idea of it.
        (info) => (this.latest = { ...parseReplication(info, this.client.stream?.remoteAddress), error: null, at: Date.now() }),
        (err: Error) => (this.latest = { primary: null, primaryOffset: null, replicas: [], error: err.message, at: Date.now() }),
      )
      .finally(() => (this.busy = false));
  }

  close(): void {
    clearInterval(this.timer);
  }
}
