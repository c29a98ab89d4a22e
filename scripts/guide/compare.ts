/**
 * What "prints what the guide shows" means: equal after replacing the values that change
 * by nature (times, session IDs, ports of processes the lab started), line by line, where a
 * guide line that starts with `...` or `…` stands for any number of lines the guide leaves out
 * (the rest of that line is a comment for the reader: `…  (six times app-1)`).
 */

export interface Loose {
  /** Measured figures (rates, counts): every digit stands for any digit, column widths may differ. */
  measured?: boolean;
  /** Which desk answers may differ (a restart in the middle): app-2 and app-3 read alike. */
  anyDesk?: boolean;
  /**
   * The desks may have other names but the same pattern (round robin started elsewhere): each
   * side's desks are renamed in the order they first appear in the block, so "app-2, app-2"
   * matches "app-1, app-1" and not "app-1, app-3". One DeskNames per block and side.
   */
  desks?: { guide: DeskNames; lab: DeskNames };
}

/** Desk names in the order of first appearance: app-3, app-1 -> desk#1, desk#2. */
export class DeskNames {
  private readonly names = new Map<string, string>();
  rename(line: string): string {
    return line.replace(/\bapp-\d+\b/g, (id) => {
      if (!this.names.has(id)) this.names.set(id, `desk#${this.names.size + 1}`);
      return this.names.get(id)!;
    });
  }
}

const BY_NATURE: [RegExp, string][] = [
  [/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z/g, '<time>'],
  [/\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT/g, '<date>'],
  [/\b((?:__Host-)?sid[=\t])[A-Za-z0-9_\-.+/%]+/g, '$1<id>'],
  [/\b\d+\.\d+s\b/g, '<seconds>'],
  [/\b(127\.0\.0\.1|localhost):\d{2,5}\b/g, '$1:<port>'],
];

export function normalize(line: string, loose: Loose = {}): string {
  let out = line.trimEnd();
  for (const [pattern, replacement] of BY_NATURE) out = out.replace(pattern, replacement);
  if (loose.anyDesk) out = out.replace(/\bapp-\d+\b/g, 'app-N');
  if (loose.measured) out = out.replace(/\d+/g, '#').replace(/\s+/g, ' ');
  return out;
}

/** null when the output matches, else a message that shows the first line that differs. */
export function compare(expected: string[], actual: string[], loose: Loose = {}): string | null {
  const want = trim(expected).map((l) => (/^(\.\.\.|…)/.test(l.trim()) ? '...' : (loose.desks?.guide.rename(normalize(l, loose)) ?? normalize(l, loose))));
  const got = trim(actual).map((l) => loose.desks?.lab.rename(normalize(l, loose)) ?? normalize(l, loose));
  if (match(want, 0, got, 0)) return null;
  let i = 0;
  while (i < want.length && i < got.length && want[i] === got[i]) i++;
  return [
    `first difference at output line ${i + 1}:`,
    `  guide: ${want[i] ?? '(nothing more)'}`,
    `  lab:   ${got[i] ?? '(nothing more)'}`,
    'the lab printed:',
    ...trim(actual).map((l) => `  | ${l}`),
  ].join('\n');
}

function match(want: string[], i: number, got: string[], j: number): boolean {
  if (i === want.length) return j === got.length;
  if (want[i] === '...') {
    for (let k = j; k <= got.length; k++) if (match(want, i + 1, got, k)) return true;
    return false;
  }
  return j < got.length && want[i] === got[j] && match(want, i + 1, got, j + 1);
}

function trim(lines: string[]): string[] {
  const out = [...lines];
  while (out.length > 0 && out.at(-1)!.trim() === '') out.pop();
  return out;
}
