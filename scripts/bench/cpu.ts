import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** A process whose CPU time the bench reads: a child by pid, or the bench itself (the load generator). */
export interface Tracked {
  name: string;
  /** null: this process (autocannon runs here). */
  pid: number | null;
}

let ticksPerSecond: number | undefined;

function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    const out = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    const n = Number(out.stdout?.trim());
    ticksPerSecond = Number.isInteger(n) && n > 0 ? n : 100;
  }
  return ticksPerSecond;
}

/**
 * CPU seconds (user + system, all threads) a process has used so far, or null
 * where /proc does not exist (macOS): the row then shows no CPU column.
 */
export function cpuSeconds(pid: number | null): number | null {
  if (pid === null) {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1e6;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces; fields after its closing paren are fixed.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return (utime + stime) / clockTicks();
  } catch {
    return null;
  }
}

/** Resident set size in bytes (VmRSS), or null when unknown. */
export function rssBytes(pid: number): number | null {
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

export interface CpuUse {
  /** CPU seconds used during the measured window. */
  seconds: number;
  /** Share of one core over the window (1 = one full core). */
  share: number;
  /** CPU microseconds per completed request. */
  usPerRequest: number;
}

/** Starts a CPU window over some processes; call the result with the window's wall time and request count. */
export function cpuWindow(tracked: Tracked[]): (wallSec: number, requests: number) => Record<string, CpuUse> {
  const before = tracked.map((t) => cpuSeconds(t.pid));
  return (wallSec, requests) => {
    const use: Record<string, CpuUse> = {};
    tracked.forEach((t, i) => {
      const start = before[i];
      const end = cpuSeconds(t.pid);
      if (start === null || start === undefined || end === null) return;
      const seconds = end - start;
      use[t.name] = {
        seconds: round(seconds, 3),
        share: round(wallSec > 0 ? seconds / wallSec : 0, 3),
        usPerRequest: round(requests > 0 ? (seconds * 1e6) / requests : 0, 1),
      };
    });
    return use;
  };
}

export function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
