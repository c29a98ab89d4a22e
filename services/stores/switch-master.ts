import { Redis } from 'ioredis';
import type { SentinelAddress } from './redis-address.js';

/**
 * Reconnects `client` when a Sentinel announces a new primary it is not connected to. A crashed
 * primary closes the connection anyway; a primary demoted alive (SENTINEL FAILOVER, a network
 * partition) keeps taking writes for seconds, until Sentinel reconfigures it, and every one of
 * them would be lost. ioredis's own failoverDetector does this too, but reconnects at each
 * Sentinel's announcement of the same failover (three here), each a burst of 503s, and one that
 * lands mid-connect can leave the client stopped. Returns what stops listening.
 */
export function followSwitchMaster(client: Redis, { sentinels, name }: SentinelAddress): () => void {
  const listeners = sentinels.map(({ host, port }) => {
    const listener = new Redis({ host, port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: (attempt) => Math.min(attempt * 200, 2000) });
    listener.on('error', () => {}); // a Sentinel down is the other listeners' turn
    listener.on('message', (_channel: string, message: string) => {
      // "<name> <old ip> <old port> <new ip> <new port>"
      const [group, , , ip, newPort] = message.split(' ');
      if (group !== name || client.status !== 'ready') return;
      const stream = client.stream;
      if (stream?.remoteAddress === ip && String(stream.remotePort) === newPort) return; // already there
      client.disconnect(true);
    });
    listener.connect().then(
      () => listener.subscribe('+switch-master'),
      () => {},
    );
    return listener;
  });
  return () => listeners.forEach((listener) => listener.disconnect());
}
