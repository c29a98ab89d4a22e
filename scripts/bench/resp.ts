/** One command in RESP, the bytes a Redis client writes for it (lengths in bytes, not characters). */
export function encodeCommand(args: readonly string[]): string {
  let out = `*${args.length}\r\n`;
  for (const arg of args) out += `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`;
  return out;
}

const CRLF = 0x0a;

/** Where the line starting at `pos` ends (the index after \r\n), or -1 if it is not all here yet. */
function lineEnd(buf: Buffer, pos: number): number {
  const nl = buf.indexOf(CRLF, pos);
  return nl < 0 ? -1 : nl + 1;
}

/** The end of the reply starting at `pos`, or -1 if incomplete; counts error replies (nested ones too) into `errors`. */
function replyEnd(buf: Buffer, pos: number, errors: { count: number }): number {
  if (pos >= buf.length) return -1;
  const type = buf[pos];
  const end = lineEnd(buf, pos);
  if (end < 0) return -1;
  switch (type) {
    case 0x2b /* + */:
    case 0x3a /* : */:
      return end;
    case 0x2d /* - */:
      errors.count++;
      return end;
    case 0x24 /* $ */: {
      const length = Number(buf.toString('latin1', pos + 1, end - 2));
      if (length < 0) return end;
      return end + length + 2 <= buf.length ? end + length + 2 : -1;
    }
    case 0x2a /* * */: {
      const count = Number(buf.toString('latin1', pos + 1, end - 2));
      let at = end;
      for (let i = 0; i < count; i++) {
        at = replyEnd(buf, at, errors);
        if (at < 0) return -1;
      }
      return at;
    }
    default:
      throw new Error(`unexpected RESP type byte ${type} at ${pos}`);
  }
}

/**
 * Counts whole replies in a stream of RESP2 chunks, keeping a partial one for the next chunk:
 * enough to know when a pipelined batch is answered, without decoding the values.
 */
export class ReplyCounter {
  private pending: Buffer = Buffer.alloc(0);
  replies = 0;
  readonly errors = { count: 0 };

  push(chunk: Buffer): void {
    const buf = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    let pos = 0;
    for (;;) {
      const seen = this.errors.count;
      const end = replyEnd(buf, pos, this.errors);
      if (end < 0) {
        this.errors.count = seen; // counted again once the reply is complete
        break;
      }
      this.replies++;
      pos = end;
    }
    this.pending = pos < buf.length ? buf.subarray(pos) : Buffer.alloc(0);
  }
}

const ESCAPES: Record<string, number> = { n: 10, r: 13, t: 9, a: 7, b: 8, '\\': 92, '"': 34 };

/**
 * One line of MONITOR output (`1733.5 [0 127.0.0.1:5000] "SET" "k" "v"`): the command's arguments,
 * unquoted as redis-server quoted them (\n, \", \\, \xHH), and where it came from ("lua" for a
 * command a script ran). ioredis's own monitor parsing keeps \n as two characters, which breaks
 * a script's text.
 */
export function parseMonitorLine(line: string): { source: string; args: string[] } | null {
  const match = /^\+?\d+\.\d+ \[\d+ ([^\]]+)\] (.*)$/.exec(line);
  if (!match) return null;
  const [, source, rest] = match;
  const args: string[] = [];
  let i = 0;
  while (i < rest!.length) {
    if (rest![i] !== '"') throw new Error(`MONITOR line: expected a quoted argument at ${i}: ${line.slice(0, 80)}`);
    const bytes: number[] = [];
    i++;
    while (rest![i] !== '"') {
      if (i >= rest!.length) throw new Error(`MONITOR line: unterminated argument: ${line.slice(0, 80)}`);
      const c = rest![i]!;
      if (c === '\\') {
        const next = rest![i + 1]!;
        if (next === 'x') {
          bytes.push(parseInt(rest!.slice(i + 2, i + 4), 16));
          i += 4;
        } else {
          bytes.push(ESCAPES[next] ?? next.charCodeAt(0));
          i += 2;
        }
      } else {
        bytes.push(...Buffer.from(c));
        i++;
      }
    }
    args.push(Buffer.from(bytes).toString('utf8'));
    i += 2; // the closing quote and the space
  }
  return { source: source!, args };
}
