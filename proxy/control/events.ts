import type { ServerResponse } from 'node:http';
import type { Monitor, Snapshot } from './monitor.js';

/** More open dashboards than a workshop needs: refuse, rather than let anyone hold the balancer's memory. */
const MAX_STREAMS = 64;

/**
 * Server-sent events for the dashboard: on connect the plots' history, then a
 * snapshot every second and whenever something changes. SSE rather than a
 * websocket: one direction is all the page needs, the browser reconnects by
 * itself, and it needs no library on either side.
 */
export class EventStreams {
  private readonly streams = new Set<ServerResponse>();
  private readonly onSnapshot = (snapshot: Snapshot) => this.broadcast('snapshot', snapshot);

  constructor(
    private readonly monitor: Monitor,
    /** Sent once per connection: what the page needs to know before the first snapshot. */
    private readonly intro: object = {},
  ) {
    monitor.on('snapshot', this.onSnapshot);
  }

  /** Takes over a raw response; false when there are too many streams already. */
  open(res: ServerResponse): boolean {
    if (this.streams.size >= MAX_STREAMS) return false;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      // A reverse proxy in front of the admin port (nginx) would otherwise buffer the stream.
      'x-accel-buffering': 'no',
    });
    res.write('retry: 1000\n\n');
    this.streams.add(res);
    this.monitor.watchers = this.streams.size;
    this.monitor.inspectRedis();
    res.once('close', () => {
      this.streams.delete(res);
      this.monitor.watchers = this.streams.size;
    });
    write(res, 'intro', this.intro);
    write(res, 'history', this.monitor.history);
    write(res, 'snapshot', this.monitor.snapshot(null));
    return true;
  }

  private broadcast(event: string, data: unknown): void {
    const frame = format(event, data);
    for (const res of this.streams) {
      // A dashboard that stopped reading (a laptop asleep) must not grow our memory forever.
      if (res.writableLength > 1_000_000) res.destroy();
      else res.write(frame);
    }
  }

  close(): void {
    this.monitor.off('snapshot', this.onSnapshot);
    for (const res of this.streams) res.end();
    this.streams.clear();
    this.monitor.watchers = 0;
  }
}

function format(event: string, data: unknown): string {
  // JSON.stringify never emits a raw newline, so one data: line is always enough.
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

function write(res: ServerResponse, event: string, data: unknown): void {
  res.write(format(event, data));
}
