/**
 * The tail of a streamed log: text arrives in chunks cut anywhere (even inside a line or a
 * multi-byte character, which the TextDecoder handles before this), and only the last
 * `limit` lines are kept, so a job that prints a million lines does not fill the page.
 * Pure: unit-tested with jest.
 */
export class LogTail {
  constructor(readonly limit = 2000) {}

  /** Complete lines kept (the oldest first), without their newline. */
  get lines(): readonly string[] {
    return this._lines;
  }

  /** The line being written (no newline yet). */
  get partial(): string {
    return this._partial;
  }

  /** Lines dropped off the top so far. */
  get dropped(): number {
    return this._dropped;
  }

  /** All lines ever received (complete ones). */
  get received(): number {
    return this._received;
  }

  /**
   * Add a chunk of text. Returns what the view must do: the new complete lines to append
   * and how many old ones to remove from the top.
   */
  push(chunk: string): { appended: string[]; removed: number } {
    const pieces = (this._partial + chunk).split('\n');
    this._partial = pieces.pop() ?? '';
    const appended = pieces.map(line =>
      line.endsWith('\r') ? line.slice(0, -1) : line
    );
    const before = this._lines.length;
    this._received += appended.length;
    this._lines.push(...appended);
    if (this._lines.length > this.limit) {
      const over = this._lines.length - this.limit;
      this._lines.splice(0, over);
      this._dropped += over;
    }
    // A view holding `before` lines appends `shown`, then removes the surplus from the top.
    const shown =
      appended.length > this.limit ? appended.slice(-this.limit) : appended;
    const removed = before + shown.length - this._lines.length;
    return { appended: shown, removed };
  }

  /** The whole tail as text (lines and the partial one). */
  text(): string {
    const body = this._lines.join('\n');
    if (!this._partial) {
      return body ? body + '\n' : '';
    }
    return body ? `${body}\n${this._partial}` : this._partial;
  }

  /** Forget everything (a new stream starts). */
  clear(): void {
    this._lines = [];
    this._partial = '';
    this._dropped = 0;
    this._received = 0;
  }

  private _lines: string[] = [];
  private _partial = '';
  private _dropped = 0;
  private _received = 0;
}
