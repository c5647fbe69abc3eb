/**
 * The stream consumer records outcomes every outcomeIntervalMs (1 s by default): a refusal that
 * lasts (outcome bars no key vouches for) must be logged once, and again only after a while, not
 * every second; a different line is logged at once.
 */
import { RepeatedLines } from '../../../lib/streaming/repeated-lines';

describe('RepeatedLines', () => {
  it('lets a line through once per interval, each distinct line on its own', () => {
    const lines = new RepeatedLines(60_000);
    const seen = (line: string, at: number) => lines.due(line, at);
    expect(seen('m: no outcome recorded: AAA', 0)).toBe(true);
    for (let at = 1000; at < 60_000; at += 1000) expect(seen('m: no outcome recorded: AAA', at)).toBe(false);
    expect(seen('m: no outcome recorded: AAA, BBB', 30_000)).toBe(true);
    expect(seen('m: no outcome recorded: AAA', 60_000)).toBe(true);
    expect(seen('m: no outcome recorded: AAA', 61_000)).toBe(false);
  });

  it('forgets lines not seen for an interval (bounded memory)', () => {
    const lines = new RepeatedLines(1000);
    for (let i = 0; i < 100; i++) lines.due(`line ${i}`, 0);
    expect(lines.size).toBe(100);
    lines.due('another', 5000);
    expect(lines.size).toBe(1);
  });
});
