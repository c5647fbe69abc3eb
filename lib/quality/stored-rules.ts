import type { Bar } from '../market-data/bar';
import type { InstrumentKind } from '../market-data/instruments';
import type { QualityPolicy } from './policy';
import { glitchLimit, glitchMessage, glitchRuns } from './rules';
import { issue, type QualityIssue } from './rules-catalog';

/**
 * Rules that need the symbol's stored bars. They run when the snapshot is judged
 * (lib/ingest/judge.ts), against the store as it is then, before the publish; the rows they reject
 * leave the staged snapshot, so the publish keeps the stored bar and reports it as unconfirmed
 * (`unconfirmed_stored_bar`, with the rule), as for a row rejected when it was read.
 *
 * - `volume_vanished` (reject): a row whose volume is 0 where the stored bar of its date has a
 *   positive volume. A file without volumes (a blank or missing column read as 0, a vendor that
 *   stopped sending them) would otherwise revise every stored volume to 0 with no finding: the
 *   prices are equal, so nothing else notices. A series that never had volume (an index, a rate)
 *   has none stored and is not affected; a stored bar is corrected by a row with a volume.
 * - `one_bar_glitch` (reject) at the edges of a file: the file's first or last row has no row on one
 *   side, so the stage-time rule (rules.ts oneBarGlitches) cannot judge it; here the series is the
 *   snapshot's rows with the stored bars given (the nearest ones before and after them) around
 *   them, and any glitch run holding a row of the snapshot rejects that row. A stored bar more than
 *   STORED_NEIGHBOUR_DAYS calendar days from the file's rows is not a neighbour. The newest row of a
 *   symbol, with no bar after it in the file or the store, cannot be told from a real move (a -40%
 *   earnings day is the newest row as often as a glitch is): it is published, with its extreme_move
 *   flag when the file has the bar before it (a one-row daily file has none: nothing to compare).
 * - `zero_volume` (flag): an equity's or ETF's rows in the snapshot (those not rejected) have volume
 *   0 throughout, or on ZERO_VOLUME_RUN or more consecutive rows. Equities trade every session: in
 *   the 382 real S&P 500 files four rows have volume 0, each with its prices missing too (rejected
 *   when read). Indices, volatility indices, rates and synthetic series (by the request's
 *   `instruments` and the naming convention of lib/market-data/instruments.ts) are not checked.
 */
export const STORED_NEIGHBOUR_DAYS = 14;
export const ZERO_VOLUME_RUN = 5;

/** Kinds that trade shares every session, so a volume of 0 says the volume is missing. */
const VOLUME_KINDS: ReadonlySet<InstrumentKind> = new Set<InstrumentKind>(['equity', 'foreign_equity', 'etf']);

export interface StoredBarInput {
  symbol: string;
  /** The snapshot's accepted bars of the symbol, ascending by date. */
  staged: readonly Bar[];
  /**
   * Stored bars of the symbol, ascending by date: at least the nearest two before its first staged
   * bar and after its last (within STORED_NEIGHBOUR_DAYS) and those on the dates of its staged bars
   * with volume 0 (lib/ingest/judge.ts reads just these). More do no harm.
   */
  stored: readonly Bar[];
  kind: InstrumentKind;
  /** The file the symbol's rows came from (the findings' source). */
  source: string;
}

export interface StoredBarFindings {
  issues: QualityIssue[];
  /** Dates of staged bars rejected (not to be published), with their rule. */
  rejected: Map<string, QualityIssue>;
}

/** The findings of the rules above for one symbol. */
export function storedBarIssues(input: StoredBarInput, policy: Pick<QualityPolicy, 'extremeMoveLimit'>): StoredBarFindings {
  const { symbol, staged, stored, kind, source } = input;
  const issues: QualityIssue[] = [];
  const rejected = new Map<string, QualityIssue>();
  const reject = (found: QualityIssue): void => {
    if (found.date === null || rejected.has(found.date)) return;
    rejected.set(found.date, found);
    issues.push(found);
  };
  const at = (date: string) => ({ symbol, date, source, line: null, raw: null });
  const storedOn = new Map(stored.map((b) => [b.date, b]));

  for (const b of staged) {
    const old = storedOn.get(b.date);
    if (old === undefined || !(old.volume > 0) || b.volume !== 0) continue;
    reject(
      issue('volume_vanished', {
        ...at(b.date),
        message: `volume ${b.volume} would replace the stored volume ${old.volume} of ${symbol} ${b.date}: a file without volumes (a blank or missing column read as 0) does not erase them; the row is rejected and the stored bar kept (import a file with the volume to revise it)`,
      }),
    );
  }

  // The series as it would be published: the stored bars given, with the snapshot's rows in their place.
  const merged = new Map<string, { bar: Bar; staged: boolean }>();
  for (const b of stored) merged.set(b.date, { bar: b, staged: false });
  for (const b of staged) if (!rejected.has(b.date)) merged.set(b.date, { bar: b, staged: true });
  const series = [...merged.values()].sort((a, b) => (a.bar.date < b.bar.date ? -1 : a.bar.date > b.bar.date ? 1 : 0));
  const limit = glitchLimit(policy);
  for (const { first, last } of glitchRuns(series.map((s) => s.bar.close), limit)) {
    const run = series.slice(first, last + 1);
    if (!run.some((s) => s.staged)) continue; // stored bars only: nothing of this snapshot
    const before = series[first - 1];
    const after = series[last + 1];
    const where = `, the bar before ${before.staged ? 'in the file' : 'as stored'} and the bar after ${after.staged ? 'in the file' : 'as stored'}`;
    const message = glitchMessage(before.bar, run.map((s) => s.bar), after.bar, limit, where);
    for (const s of run) if (s.staged) reject(issue('one_bar_glitch', { ...at(s.bar.date), message }));
  }

  if (VOLUME_KINDS.has(kind)) {
    const kept = staged.filter((b) => !rejected.has(b.date));
    let runStart = -1;
    let longest: { from: number; to: number } | undefined;
    for (let i = 0; i <= kept.length; i++) {
      if (i < kept.length && kept[i].volume === 0) {
        if (runStart < 0) runStart = i;
        continue;
      }
      if (runStart >= 0 && (!longest || i - 1 - runStart > longest.to - longest.from)) longest = { from: runStart, to: i - 1 };
      runStart = -1;
    }
    const length = longest ? longest.to - longest.from + 1 : 0;
    if (longest && (length === kept.length || length >= ZERO_VOLUME_RUN)) {
      const from = kept[longest.from].date;
      const to = kept[longest.to].date;
      const storedVolume = stored.some((b) => b.volume > 0) ? '; the stored bars around them have volume' : '';
      const what = length === kept.length ? `volume is 0 on all ${length} of its rows (${from}..${to})` : `volume is 0 on ${length} consecutive rows (${from}..${to}) of its ${kept.length}`;
      issues.push(issue('zero_volume', { ...at(from), message: `${what}${storedVolume}: ${kind === 'etf' ? 'an ETF' : 'an equity'} trades every session, so the file's volumes are missing (a blank or absent column read as 0); stored as read, declare the series' kind in \`instruments\` if it has no volume` }));
    }
  }
  return { issues, rejected };
}
