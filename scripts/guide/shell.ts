import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';

/**
 * One bash for the whole guide, as a reader's terminal: a variable set by one command
 * (SID=...) is there for the next. stderr is merged into stdout, as a terminal shows both.
 */
export class Shell {
  private readonly child: ChildProcess;
  private buffer = '';
  private waiting: ((text: string) => void) | null = null;
  private readonly marker = `__guide_${randomBytes(6).toString('hex')}__`;

  constructor(cwd: string, env: NodeJS.ProcessEnv) {
    this.child = spawn('bash', ['--noprofile', '--norc'], { cwd, env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    this.child.stdin!.write('exec 2>&1\n');
    this.child.stdout!.setEncoding('utf8');
    this.child.stdout!.on('data', (chunk: string) => {
      this.buffer += chunk;
      this.waiting?.(this.buffer);
    });
  }

  /** Runs one command; its output (without a final newline) and exit status. */
  run(command: string, timeoutMs: number): Promise<{ output: string; status: number }> {
    const end = new RegExp(`\\n?${this.marker}(\\d+)\\n`);
    this.buffer = '';
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = null;
        reject(new Error(`no end after ${timeoutMs} ms; printed so far:\n${this.buffer}`));
      }, timeoutMs);
      this.waiting = (text) => {
        const found = end.exec(text);
        if (!found) return;
        clearTimeout(timer);
        this.waiting = null;
        resolve({ output: text.slice(0, found.index), status: Number(found[1]) });
      };
      // stdin from /dev/null: a command that reads its input must not eat the next command.
      this.child.stdin!.write(`{ ${command}\n} </dev/null; printf '\\n${this.marker}%d\\n' "$?"\n`);
    });
  }

  close(): void {
    if (this.child.exitCode !== null || this.child.pid === undefined) return;
    // The whole group: a command still running (a sleep) goes with its shell.
    try {
      process.kill(-this.child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
