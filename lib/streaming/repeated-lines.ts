/**
 * Which log lines are due: a line repeated within `everyMs` of its last logging is not. For loops
 * that report the same condition at every turn (the stream's outcome recording, every second by
 * default): the condition is logged once, then again after `everyMs` while it lasts; a different
 * line (another refusal) is logged at once.
 */
export class RepeatedLines {
  private readonly logged = new Map<string, number>();
  constructor(readonly everyMs: number) {}

  /** Whether `line` should be logged at `now` (ms); records it when so. */
  due(line: string, now: number): boolean {
    for (const [l, at] of this.logged) if (now - at >= this.everyMs) this.logged.delete(l);
    if (this.logged.has(line)) return false;
    this.logged.set(line, now);
    return true;
  }

  get size(): number {
    return this.logged.size;
  }
}
