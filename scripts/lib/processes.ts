import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface ReadyMessage {
  type: 'ready';
  instance: string;
  port: number;
  adminPort?: number;
  /** The balancer's HTTPS listener, when HTTPS_PORT is set. */
  httpsPort?: number;
}

/**
 * An entry point of this project, as a path a child process can run: the .ts
 * source through tsx when we run from source, the compiled .js when built.
 */
export function entry(relativeToRoot: string): { file: string; execArgv: string[] } {
  const fromSource = import.meta.url.endsWith('.ts');
  // scripts/lib/ -> project root (dist/ when compiled, where the .js files sit at the same paths).
  const root = new URL('../../', import.meta.url);
  const file = fileURLToPath(new URL(fromSource ? relativeToRoot : relativeToRoot.replace(/\.ts$/, '.js'), root));
  return { file, execArgv: fromSource ? ['--import', import.meta.resolve('tsx')] : [] };
}

export interface NodeChild {
  child: ChildProcess;
  ready: ReadyMessage;
}

/**
 * Forks a project entry point and resolves when it reports `ready` over IPC.
 * Rejects with the child's own words (its last stderr/stdout lines) if it exits first.
 */
export function startNode(
  relativeEntry: string,
  env: Record<string, string>,
  options: {
    name: string;
    onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
    timeoutMs?: number;
    /** Extra Node flags, e.g. --cpu-prof (which NODE_OPTIONS does not accept). */
    nodeArgs?: string[];
  },
): Promise<NodeChild> {
  const { file, execArgv } = entry(relativeEntry);
  const child = fork(file, [], {
    execArgv: [...execArgv, ...(options.nodeArgs ?? [])],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    // A process group of its own: Ctrl-C in the terminal reaches the launcher only, which then
    // stops each child once (SIGTERM, a graceful drain). In the terminal's group, every child
    // would get the SIGINT and then the launcher's SIGTERM, and skip its drain ("second signal").
    // A child whose launcher dies anyway notices the IPC channel close and stops.
    detached: true,
  });
  const tail: string[] = [];
  for (const stream of ['stdout', 'stderr'] as const) {
    let buffered = '';
    child[stream]!.setEncoding('utf8');
    child[stream]!.on('data', (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        tail.push(line);
        if (tail.length > 20) tail.shift();
        options.onLine?.(line, stream);
      }
    });
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${options.name} did not become ready within ${options.timeoutMs ?? 20_000} ms:\n${tail.join('\n')}`));
    }, options.timeoutMs ?? 20_000);
    const onExit = (code: number | null, signal: string | null) => {
      clearTimeout(timer);
      reject(new Error(`${options.name} exited (${signal ?? `code ${code}`}) before it was ready:\n${tail.join('\n')}`));
    };
    child.once('exit', onExit);
    child.on('message', (message: ReadyMessage) => {
      if (message?.type !== 'ready') return;
      clearTimeout(timer);
      child.off('exit', onExit);
      resolve({ child, ready: message });
    });
  });
}

/** Stops a child: SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
export function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
