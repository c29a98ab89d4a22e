import type { LabActionMessage, LabActionRequest, LabInstanceAddress, LauncherInventory, LauncherMessage } from './lab-protocol.js';

export interface LabResult {
  message: string;
  /** The instance the launcher started (add-instance). */
  instance?: LabInstanceAddress | undefined;
}

/** The launcher is not there (docker compose, or the balancer started by hand). */
export class LauncherUnavailableError extends Error {
  override name = 'LauncherUnavailableError';
}

/** The launcher tried and could not (no such instance, a start-up failure...). */
export class LabActionError extends Error {
  override name = 'LabActionError';
}

export const LAUNCHER_MISSING =
  'this control needs the npm start launcher, which owns the instance processes: ' +
  'not available under docker compose (there, use docker compose stop/start/scale)';

interface Channel {
  send?: (message: LabActionMessage) => boolean;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
  channel?: { unref(): void } | null | undefined;
}

export interface LauncherLink {
  /** True once the launcher said hello over IPC. */
  readonly available: boolean;
  readonly inventory: LauncherInventory | null;
  request(request: LabActionRequest, timeoutMs?: number): Promise<LabResult>;
  close(): void;
}

function isLauncherMessage(message: unknown): message is LauncherMessage {
  return typeof message === 'object' && message !== null && String((message as { type?: unknown }).type).startsWith('lab-');
}

/**
 * The control plane's side of the IPC channel to its launcher. Lab actions are only
 * offered after the launcher's hello: having an IPC channel is not enough
 * (another parent could have forked us and would never answer).
 */
export function connectLauncher(channel: Channel, onChange: (change: { text?: string }) => void = () => {}): LauncherLink {
  let hello = false;
  let inventory: LauncherInventory | null = null;
  let nextId = 1;
  const pending = new Map<number, { resolve: (result: LabResult) => void; reject: (err: Error) => void; timer: NodeJS.Timeout }>();

  const listener = (message: unknown) => {
    if (!isLauncherMessage(message)) return;
    switch (message.type) {
      case 'lab-hello':
      case 'lab-inventory':
        hello = true;
        inventory = message.inventory;
        onChange({});
        break;
      case 'lab-event':
        onChange({ text: message.text });
        break;
      case 'lab-result': {
        const waiting = pending.get(message.id);
        if (!waiting) return;
        pending.delete(message.id);
        clearTimeout(waiting.timer);
        if (message.ok) waiting.resolve({ message: message.message, instance: message.instance });
        else waiting.reject(new LabActionError(message.message));
        break;
      }
    }
  };
  if (channel.send) {
    channel.on('message', listener);
    // A message listener would keep the balancer alive after its servers close.
    channel.channel?.unref();
  }

  return {
    get available() {
      return hello && Boolean(channel.send);
    },
    get inventory() {
      return inventory;
    },
    request(request, timeoutMs = 30_000) {
      if (!hello || !channel.send) return Promise.reject(new LauncherUnavailableError(LAUNCHER_MISSING));
      const id = nextId++;
      return new Promise<LabResult>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new LabActionError(`the launcher did not answer ${request.action} within ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, { resolve, reject, timer });
        try {
          channel.send!({ type: 'lab-action', id, request });
        } catch (err) {
          clearTimeout(timer);
          pending.delete(id);
          reject(new LauncherUnavailableError(`the launcher has gone away (${(err as Error).message})`));
        }
      });
    },
    close() {
      channel.off('message', listener);
      for (const { reject, timer } of pending.values()) {
        clearTimeout(timer);
        reject(new LauncherUnavailableError('the balancer is shutting down'));
      }
      pending.clear();
    },
  };
}
