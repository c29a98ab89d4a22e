import type { ChildProcess } from 'node:child_process';
import type { EventEmitter } from 'node:events';
import type {
  InstanceLifecycle,
  LabActionMessage,
  LabActionRequest,
  LabInstanceAddress,
  LauncherInventory,
  LauncherMessage,
  StreamStatus,
} from '../proxy/control/lab-protocol.js';
import { VirtualUserStream } from './virtual-stream.js';

/** What the launcher can do that the balancer cannot: it owns the instance processes. */
export interface LabControls extends EventEmitter {
  url: string;
  instances: { id: string; url: string }[];
  stopInstance(id: string): Promise<void>;
  startInstance(id: string): Promise<unknown>;
  addInstance(options: { register: false }): Promise<{ id: string; url: string }>;
  removeInstance(id: string, options: { deregister: false }): Promise<void>;
  killRedisPrimary(): Promise<number>;
}

const IDLE_STREAM: StreamStatus = { running: false, rate: 0, users: 0, endsAt: null, requests: 0, loggedOut: 0, skipped: 0 };

/**
 * The launcher's side of the dashboard's lab controls: the processes, never the pool
 * (the control plane puts an added instance in, and takes one out before asking for
 * its removal). Answers the balancer's
 * lab-action messages over IPC, runs the virtual-user stream, and keeps the
 * balancer told what each instance is doing (running, stopped, restarting).
 *
 * The stream runs here rather than in the balancer: a client loop inside the
 * proxy's event loop would slow down the very requests it sends, and the
 * dashboard would be measuring the balancer against itself.
 */
export function serveLabActions(lab: LabControls, balancer: ChildProcess): { close(): void } {
  const lifecycle = new Map<string, InstanceLifecycle>();
  let stream: VirtualUserStream | null = null;
  let lastStream: StreamStatus = IDLE_STREAM;

  const inventory = (): LauncherInventory => ({
    instances: lab.instances.map((i) => ({ id: i.id, url: i.url, state: lifecycle.get(i.id) ?? 'running' })),
    stream: stream?.status() ?? lastStream,
  });

  function send(message: LauncherMessage): void {
    // With a callback a closed channel is reported there, not thrown: the balancer may be stopping.
    if (balancer.connected) balancer.send(message, () => {});
  }
  const tell = () => send({ type: 'lab-inventory', inventory: inventory() });
  // To the dashboard's log, and to the launcher's terminal (npm start prints 'action' events).
  const event = (text: string) => {
    send({ type: 'lab-event', text });
    lab.emit('action', text);
  };

  lab.on('crashed', (id: string) => {
    lifecycle.set(id, 'restarting');
    tell();
  });
  lab.on('restarted', (instance: { id: string }) => {
    lifecycle.set(instance.id, 'running');
    tell();
  });
  lab.on('redis-promoted', (dead: number, next: number) => event(`Sentinel promoted the replica on :${next} to primary in place of :${dead}`));
  lab.on('redis-rejoined', (dead: number, next: number) => event(`the dead primary :${dead} is back, empty, as a replica of :${next}`));

  function stopStream(): void {
    if (!stream) return;
    stream.stop();
    lastStream = stream.status();
    stream = null;
  }

  async function perform(request: LabActionRequest): Promise<{ text: string; instance?: LabInstanceAddress }> {
    const text = await act(request);
    return typeof text === 'string' ? { text } : text;
  }

  async function act(request: LabActionRequest): Promise<string | { text: string; instance: LabInstanceAddress }> {
    switch (request.action) {
      case 'stop-instance':
        if (lifecycle.get(request.instance) === 'stopped') return `${request.instance} is already stopped`;
        await lab.stopInstance(request.instance);
        lifecycle.set(request.instance, 'stopped');
        event(`${request.instance} was stopped by the launcher (SIGTERM): it stays down until started`);
        return `${request.instance} stopped`;
      case 'start-instance':
        if (lifecycle.get(request.instance) !== 'stopped') return `${request.instance} is not stopped`;
        await lab.startInstance(request.instance);
        lifecycle.set(request.instance, 'running');
        event(`${request.instance} was started again, with an empty memory logbook`);
        return `${request.instance} started`;
      case 'add-instance': {
        const added = await lab.addInstance({ register: false });
        lifecycle.set(added.id, 'running');
        event(`${added.id} was started and added to the pool`);
        return { text: `${added.id} added`, instance: { id: added.id, url: added.url } };
      }
      case 'remove-instance':
        if (lab.instances.length <= 1) throw new Error('the last instance cannot be removed');
        await lab.removeInstance(request.instance, { deregister: false });
        lifecycle.delete(request.instance);
        event(`${request.instance} was taken out of the pool and stopped`);
        return `${request.instance} removed`;
      case 'stream-start':
        stopStream();
        stream = new VirtualUserStream({ baseUrl: lab.url, rate: request.rate, onEnd: () => (stopStream(), event('the virtual users stopped (time limit)'), tell()) });
        event(`virtual users started: ${request.rate} requests/s through the public port`);
        return `virtual users started: ${request.rate} requests/s`;
      case 'kill-redis-primary': {
        const port = await lab.killRedisPrimary();
        event(`the Redis primary on :${port} was killed (SIGKILL): instances get 503 until Sentinel promotes a replica`);
        return `Redis primary :${port} killed`;
      }
      case 'stream-stop':
        if (!stream) return 'no stream was running';
        stopStream();
        event('virtual users stopped');
        return 'stream stopped';
    }
  }

  // One action at a time: two quick "add" clicks must not pick the same instance name.
  let queue: Promise<unknown> = Promise.resolve();
  const onMessage = (message: LabActionMessage) => {
    if (message?.type !== 'lab-action') return;
    const done = queue.then(() => perform(message.request));
    queue = done.catch(() => {});
    done.then(
      ({ text, instance }) => {
        send({ type: 'lab-result', id: message.id, ok: true, message: text, ...(instance && { instance }) });
        tell();
      },
      (err: Error) => {
        send({ type: 'lab-result', id: message.id, ok: false, message: err.message });
        tell();
      },
    );
  };
  balancer.on('message', onMessage);
  // Counters of the stream move every second; the dashboard shows them.
  const timer = setInterval(() => stream && tell(), 1000);
  timer.unref();
  send({ type: 'lab-hello', inventory: inventory() });

  return {
    close() {
      clearInterval(timer);
      stopStream();
      balancer.off('message', onMessage);
    },
  };
}
