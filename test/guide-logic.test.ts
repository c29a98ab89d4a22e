import { describe, expect, it } from 'vitest';
import { directive, parseBlocks, parseSteps } from '../scripts/guide/blocks.js';
import { DeskNames, compare, normalize } from '../scripts/guide/compare.js';
import { labRequest, onLabPorts, withoutNpmBanner } from '../scripts/guide/run.js';

const GUIDE = [
  'Some prose.',
  '',
  '<!-- guide: lab --instances 1 -->',
  '<!-- guide: any desk -->',
  '```console',
  "$ curl -s -c jar.txt -H 'content-type: application/json' \\",
  "    -d '{}' http://localhost:8080/login",
  '{"servedBy":"app-1"}',
  '$ echo two',
  'two',
  '```',
  '',
  '  <!-- guide: skip docker -->',
  '  ```sh',
  '  docker compose up',
  '  ```',
].join('\n');

describe('the guide runner reads a guide', () => {
  it('finds blocks, their directives and their commands with continuation lines', () => {
    const [run, skipped] = parseBlocks(GUIDE);
    expect(run!.lang).toBe('console');
    expect(directive(run!, 'lab')).toBe('--instances 1');
    expect(directive(run!, 'any desk')).toBe('');
    expect(directive(run!, 'skip')).toBeNull();
    const steps = parseSteps(run!);
    expect(steps).toHaveLength(2);
    expect(steps[0]!.command.split('\n')).toHaveLength(2);
    expect(steps[0]!.expected).toEqual(['{"servedBy":"app-1"}']);
    expect(directive(skipped!, 'skip')).toBe('docker');
    expect(skipped!.body).toEqual(['docker compose up']);
  });

  it('a directive is forgotten at the next paragraph', () => {
    const [block] = parseBlocks('<!-- guide: measured -->\n\nprose between\n```console\n$ true\n```');
    expect(block!.directives).toEqual([]);
  });

  it('refuses a console block that does not start with a command', () => {
    const [block] = parseBlocks('```console\noutput first\n```');
    expect(() => parseSteps(block!)).toThrow(/must start with a "\$ " command/);
  });

  it('reads the lab a directive asks for, and refuses a wrong one', () => {
    expect(labRequest('--mode redis --instances 4')).toEqual({ mode: 'redis', instances: 4, https: false });
    expect(labRequest('')).toEqual({ mode: 'memory', instances: 3, https: false });
    expect(() => labRequest('--mode nope')).toThrow(/--mode must be one of/);
  });
});

describe('the guide runner compares', () => {
  it('forgives values that change by nature and nothing else', () => {
    const guide = ['set-cookie: sid=abc.def; Path=/; Expires=Sun, 22 Nov 2026 04:38:07 GMT; HttpOnly', '{"loginAt":"2026-11-22T04:08:07.221Z","servedBy":"app-1"} [503 in 0.512334s]'];
    const lab = ['set-cookie: sid=x+y/z.w; Path=/; Expires=Wed, 02 Dec 2026 11:18:12 GMT; HttpOnly', '{"loginAt":"2026-12-02T10:48:12.715Z","servedBy":"app-1"} [503 in 0.0123s]'];
    expect(compare(guide, lab)).toBeNull();
    expect(compare(guide, [lab[0]!, lab[1]!.replace('app-1', 'app-2')])).toMatch(/first difference at output line 2/);
    expect(compare(['200 app-1'], ['200 app-2'], { anyDesk: true })).toBeNull();
    expect(compare(['200 app-1'], ['401 app-2'], { anyDesk: true })).not.toBeNull();
  });

  it('renames desks consistently through a block, so the pattern still counts', () => {
    const desks = () => ({ guide: new DeskNames(), lab: new DeskNames() });
    expect(compare(['200 app-1', '200 app-1'], ['200 app-3', '200 app-3'], { desks: desks() })).toBeNull();
    expect(compare(['200 app-1', '200 app-1'], ['200 app-3', '200 app-2'], { desks: desks() })).not.toBeNull();
    // Across the steps of one block: the login's desk is the desk of the visits after it.
    const block = desks();
    expect(compare(['login app-1'], ['login app-2'], { desks: block })).toBeNull();
    expect(compare(['200 app-2'], ['200 app-2'], { desks: block })).not.toBeNull();
  });

  it('reads measured figures loosely, but not the words around them', () => {
    expect(compare(['memory   67.7%   66.7%  30/30'], ['memory  100.0%   66.7%  29/30'], { measured: true })).toBeNull();
    expect(normalize('memory 67.7%', { measured: true })).toBe('memory #.#%');
    expect(compare(['memory 67.7%'], ['sticky 67.7%'], { measured: true })).not.toBeNull();
  });

  it('lets a guide line "..." stand for lines it leaves out, and only there', () => {
    expect(compare(['HTTP/1.1 200 OK', '...', '{}'], ['HTTP/1.1 200 OK', 'a: 1', 'b: 2', '', '{}'])).toBeNull();
    expect(compare(['HTTP/1.1 200 OK', '{}'], ['HTTP/1.1 200 OK', 'a: 1', '{}'])).not.toBeNull();
    expect(compare(['one'], [])).toMatch(/lab: {3}\(nothing more\)/);
    expect(compare(['200 app-1', '…   (six times app-1)'], ['200 app-1', '200 app-1', '200 app-1'])).toBeNull();
  });

  it('moves the guide’s ports to the lab’s, and drops npm run’s banner', () => {
    const lab = { url: 'http://127.0.0.1:4000', adminUrl: 'http://127.0.0.1:4001', httpsUrl: undefined };
    expect(onLabPorts('curl http://localhost:8080/x http://127.0.0.1:8081/api --url localhost:80800', lab)).toBe(
      'curl http://localhost:4000/x http://127.0.0.1:4001/api --url localhost:80800',
    );
    expect(withoutNpmBanner(['', '> coatcheck@0.1.0 simulate', '> node --import tsx scripts/simulate.ts', '', 'table'])).toEqual(['table']);
  });
});
