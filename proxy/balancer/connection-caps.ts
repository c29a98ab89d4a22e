import type { Server } from 'node:net';
import type { Socket } from 'node:net';

export interface ConnectionCaps {
  /** Open connections on one listener; Node closes any beyond it at once (server.maxConnections). */
  total: number;
  /** Open connections from one client address, across the listeners that share the counter. */
  perClient: number;
}

/**
 * Every open connection is a file descriptor. Without caps one client holding thousands of slow
 * uploads exhausts the balancer's descriptors, and then every listener (the admin port too)
 * refuses everyone. The total stays well below a usual fd limit (1024 or 65536), and a single
 * address cannot take more than its share: excess connections are closed as they arrive,
 * before a byte is read. Returns a function that applies the caps to one more listener.
 */
export function connectionCaps(caps: ConnectionCaps, onRefused: (address: string) => void = () => {}): (server: Server) => void {
  const open = new Map<string, number>();
  const track = (socket: Socket) => {
    const address = socket.remoteAddress ?? '';
    const count = (open.get(address) ?? 0) + 1;
    if (count > caps.perClient) {
      onRefused(address);
      socket.destroy();
      return;
    }
    open.set(address, count);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left <= 0) open.delete(address);
      else open.set(address, left);
    });
  };
  return (server) => {
    server.maxConnections = caps.total;
    server.on('connection', track);
  };
}
