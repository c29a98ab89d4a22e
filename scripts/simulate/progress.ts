/**
 * A one-line progress bar on stderr, so stdout stays clean for the table or the JSON.
 * Only on a terminal: in CI logs or a pipe it would be noise.
 */
export class Progress {
  private done = 0;
  private label = '';
  private lastDraw = 0;

  constructor(
    private readonly total: number,
    private readonly enabled: boolean = process.stderr.isTTY === true,
  ) {}

  stage(label: string): void {
    this.label = label;
    this.draw(true);
  }

  tick(): void {
    this.done++;
    this.draw(false);
  }

  private draw(force: boolean): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (!force && now - this.lastDraw < 100) return;
    this.lastDraw = now;
    const share = this.total > 0 ? Math.min(1, this.done / this.total) : 0;
    const width = 30;
    const filled = Math.round(share * width);
    process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(Math.round(share * 100)).padStart(3)}%  ${this.label}\x1b[K`);
  }

  finish(): void {
    if (this.enabled) process.stderr.write('\r\x1b[K');
  }
}
