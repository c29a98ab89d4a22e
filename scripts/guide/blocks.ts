/**
 * A Markdown guide read as a script: its fenced blocks, each with the `<!-- guide: ... -->`
 * directives written just above it. A ```console block is run: `$ ` lines are commands
 * (a trailing backslash continues one), the lines after a command are what it prints.
 * Every other shell block (sh, bash) must say why it is not run (`skip <reason>`), so a
 * new block cannot slip past the runner unnoticed.
 */

export interface Step {
  command: string;
  expected: string[];
}

export interface Block {
  /** 1-based line of the opening fence, for messages. */
  line: number;
  lang: string;
  directives: string[];
  body: string[];
}

const FENCE = /^(\s*)```(\S*)\s*$/;
const DIRECTIVE = /^<!--\s*guide:\s*(.*?)\s*-->$/;
export const SHELL_LANGS = new Set(['console', 'sh', 'bash', 'shell']);

export function parseBlocks(markdown: string): Block[] {
  const lines = markdown.split('\n');
  const blocks: Block[] = [];
  let pending: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i]!;
    const directive = DIRECTIVE.exec(text.trim());
    if (directive) {
      pending.push(directive[1]!);
      continue;
    }
    const fence = FENCE.exec(text);
    if (!fence) {
      if (text.trim() !== '') pending = [];
      continue;
    }
    const indent = fence[1]!.length;
    const body: string[] = [];
    let j = i + 1;
    while (j < lines.length && !/^\s*```\s*$/.test(lines[j]!)) body.push(lines[j++]!.slice(indent));
    blocks.push({ line: i + 1, lang: fence[2]!, directives: pending, body });
    pending = [];
    i = j;
  }
  return blocks;
}

/** The commands of a console block and what each prints. */
export function parseSteps(block: Block): Step[] {
  const steps: Step[] = [];
  let current: Step | null = null;
  let continuing = false;
  for (const text of block.body) {
    if (continuing && current) {
      current.command += `\n${text}`;
      continuing = text.endsWith('\\');
      continue;
    }
    if (text.startsWith('$ ')) {
      current = { command: text.slice(2), expected: [] };
      steps.push(current);
      continuing = text.endsWith('\\');
      continue;
    }
    if (!current) throw new Error(`line ${block.line}: a console block must start with a "$ " command, got: ${text}`);
    current.expected.push(text);
  }
  return steps;
}

/** The value of a directive such as `lab --instances 1` or `skip docker`: the words after its name, or null. */
export function directive(block: Block, name: string): string | null {
  for (const d of block.directives) {
    if (d === name) return '';
    if (d.startsWith(`${name} `)) return d.slice(name.length + 1).trim();
  }
  return null;
}
