/**
 * The ingestion quality rules applied to a batch of stream entries. Field-level problems (decode)
 * and row rules (lib/quality/rules.ts rowIssue) reject a bar into quarantine, as for a CSV row.
 *
 * Two rules change meaning in a stream:
 * - duplicate_date: a stream is ordered, so a second message for the same symbol and date is a
 *   redelivery (same values: counted as a duplicate) or a correction (different values: the later
 *   one wins, as a corrected file wins on re-import). Rejecting both, as the CSV rule does, would
 *   make the outcome depend on where batch boundaries fall.
 * - series rules (extreme_move, calendar_gap, stale_close) look at the symbol's stored bars before
 *   the new one (seriesFlags); short_series and unsorted_input describe whole files and do not apply.
 */
import type { Bar } from '../market-data/bar';
import type { CandidateBar } from '../market-data/csv-reader';
import type { QualityPolicy } from '../quality/policy';
import { rowIssue, seriesIssues } from '../quality/rules';
import { issue, type QualityIssue } from '../quality/rules-catalog';
import { barOf, decodeLiveBar } from './live-bar';
import type { StreamEntry } from './redis-streams';

/** A bar that passed the row rules, with the entry it came from. */
export interface AcceptedLiveBar {
  bar: Bar;
  entryId: string;
  /** Where quarantine and flags point: "<stream>#<entry id> (<producer source>)". */
  source: string;
  raw: string;
}

export interface BatchQuality {
  /** One bar per (symbol, date): the last one in stream order. */
  accepted: AcceptedLiveBar[];
  /** Bars kept out of the store, one issue each. */
  rejected: QualityIssue[];
  /** Entries repeating an earlier entry of the batch value for value. */
  duplicatesInBatch: number;
  /** Entries replaced by a later entry with different values for the same symbol and date. */
  supersededInBatch: number;
}

const RAW_LIMIT = 2000;

export function entrySource(streamKey: string, entryId: string, producerSource: string | undefined): string {
  const base = `${streamKey}#${entryId}`;
  return producerSource ? `${base} (${producerSource.slice(0, 200)})` : base;
}

function sameValues(a: Bar, b: Bar): boolean {
  return a.open === b.open && a.high === b.high && a.low === b.low && a.close === b.close && a.volume === b.volume;
}

export function checkLiveBatch(entries: readonly StreamEntry[], streamKey: string): BatchQuality {
  const rejected: QualityIssue[] = [];
  const latest = new Map<string, AcceptedLiveBar>();
  let duplicatesInBatch = 0;
  let supersededInBatch = 0;
  for (const entry of entries) {
    const raw = JSON.stringify(entry.fields).slice(0, RAW_LIMIT);
    const source = entrySource(streamKey, entry.id, entry.fields.source);
    const decoded = decodeLiveBar(entry.fields);
    if (!decoded.ok) {
      rejected.push(issue(decoded.rule, { symbol: decoded.symbol, date: decoded.date, source, line: null, message: decoded.message, raw }));
      continue;
    }
    const bar = barOf(decoded.bar);
    const candidate: CandidateBar = { ...bar, source, line: 0, raw };
    const problem = rowIssue(candidate);
    if (problem) {
      rejected.push({ ...problem, line: null });
      continue;
    }
    const key = `${bar.symbol}\u0000${bar.date}`;
    const earlier = latest.get(key);
    const accepted: AcceptedLiveBar = { bar, entryId: entry.id, source, raw };
    if (earlier) {
      if (sameValues(earlier.bar, bar)) duplicatesInBatch++;
      else supersededInBatch++;
    }
    latest.set(key, accepted);
  }
  return { accepted: [...latest.values()], rejected, duplicatesInBatch, supersededInBatch };
}

/**
 * Series flags for the bars of one symbol that just changed, against the stored bars around them:
 * extreme_move and calendar_gap between a changed bar and the bar before it, and stale_close once,
 * when a run of equal closes ending at a changed bar reaches the policy's length.
 * `series` is the symbol's window ascending by date, changed bars included.
 */
export function seriesFlags(series: readonly Bar[], changed: ReadonlyMap<string, { source: string; raw: string }>, policy: QualityPolicy): QualityIssue[] {
  const flags: QualityIssue[] = [];
  const pairPolicy: QualityPolicy = { ...policy, minHistoryBars: 1, staleCloseDays: Number.MAX_SAFE_INTEGER };
  const runPolicy: QualityPolicy = { ...policy, minHistoryBars: 1, extremeMoveLimit: Number.POSITIVE_INFINITY };
  for (let i = 0; i < series.length; i++) {
    const at = changed.get(series[i].date);
    if (!at) continue;
    const candidate = (b: Bar): CandidateBar => ({ ...b, source: at.source, line: 0, raw: at.raw });
    const withoutLine = (q: QualityIssue): QualityIssue => ({ ...q, line: null, raw: q.raw === null ? null : at.raw });
    if (i > 0) {
      for (const q of seriesIssues([candidate(series[i - 1]), candidate(series[i])], pairPolicy)) {
        if (q.rule === 'extreme_move' || q.rule === 'calendar_gap') flags.push(withoutLine(q));
      }
    }
    let start = i;
    while (start > 0 && series[start - 1].close === series[i].close) start--;
    if (i - start + 1 === policy.staleCloseDays) {
      for (const q of seriesIssues(series.slice(start, i + 1).map(candidate), runPolicy)) if (q.rule === 'stale_close') flags.push(withoutLine(q));
    }
  }
  return flags;
}
