/**
 * The ingestion quality rules applied to a batch of stream entries. Field-level problems (decode)
 * and row rules (lib/quality/rules.ts rowIssue) reject a bar into quarantine, as for a CSV row,
 * future_date included: a bar dated after the New York date of the clock when the batch is checked.
 *
 * session_not_closed judges a bar by when it was produced, not only by when it is checked: the
 * earlier of its entry id's time (the stream's clock) and its event_time (entryTiming). A bar taken
 * mid-session and read after the close (a backlog, a restart, a claimed pending batch) is still
 * unfinished. The same time is its version's (versionTimeOf): a function of the entry alone, so
 * every delivery of it is ordered alike. The same rule tells a producer whether the consumer takes
 * a bar it appended (liveTimingAccepted), so the two never disagree about clocks.
 *
 * Two rules change meaning in a stream:
 * - duplicate_date: a stream is ordered, so a second message for the same symbol and date is a
 *   redelivery (same values: counted as a duplicate) or a correction (different values: the later
 *   one wins, as a corrected file wins on re-import), unless the later one was produced earlier
 *   (the earlier of its event_time and its entry's time: versionTimeOf; a re-sent backlog: dropped as stale, as
 *   the store does, live-bar-store.ts). Rejecting both, as the CSV rule does, would
 *   make the outcome depend on where batch boundaries fall.
 * - series rules (extreme_move, calendar_gap, unadjusted_split, stale_close) look at the symbol's
 *   stored bars around the new one (seriesFlags); short_series and unsorted_input describe whole
 *   files and do not apply.
 */
import { isNyseTradingDay, newYorkClock, nextNyseTradingDay, nyseCloseTime } from '../calendar/nyse';
import { EARLIEST_BAR_DATE, indexOfDate, type Bar } from '../market-data/bar';
import { memoize } from '../memo';
import type { CandidateBar } from '../market-data/csv-reader';
import type { QualityPolicy } from '../quality/policy';
import { SESSION_CLOSE_MARGIN_MINUTES } from '../quality/policy';
import { extremeMoveMessage, newYorkDate, rowIssue, rowPasses, seriesIssues } from '../quality/rules';
import { MOVE_SCALE_FLOOR, moveScaleVolatility, VOLATILITY_RETURNS } from '../quality/move-scale';
import { closeSplits, splitFinding } from '../quality/splits';
import { issue, type QualityIssue } from '../quality/rules-catalog';
import { VOLUME_KINDS, ZERO_VOLUME_RUN } from '../quality/stored-rules';
import { knownInstrumentKind, undeclaredSuffixMessage } from '../market-data/instruments';
import { barOf, decodeLiveBar, entryTimeMs, liveBarSource } from './live-bar';
import type { StreamEntry } from './redis-streams';

/** A bar that passed the row rules, with the entry it came from. */
export interface AcceptedLiveBar {
  bar: Bar;
  entryId: string;
  /**
   * When the bar was produced, as eventTimeKey stores it: the earlier of its message's event_time
   * and its entry's time (versionTimeOf). Stored as its version's time.
   */
  readonly eventTime: string;
  /** Where quarantine and flags point: "<stream>#<entry id> (<producer source>)". */
  readonly source: string;
  readonly raw: string;
}

/** An accepted bar whose source and raw text are made only when asked for (a flag or quarantine needs them; most bars never do). */
class Accepted implements AcceptedLiveBar {
  constructor(
    readonly bar: Bar,
    private readonly entry: StreamEntry,
    private readonly streamKey: string,
    /** The producer's source field, as decoded. */
    private readonly producerSource: string,
    readonly eventTime: string,
  ) {}

  get entryId(): string {
    return this.entry.id;
  }

  get source(): string {
    return entrySource(this.streamKey, this.entry.id, this.producerSource);
  }

  get raw(): string {
    return rawOf(this.entry);
  }
}

function rawOf(entry: StreamEntry): string {
  return JSON.stringify(entry.fields).slice(0, RAW_LIMIT);
}

/** isNyseTradingDay per date, remembered (a batch has few dates, each checked for every bar). */
const tradingDay = memoize(isNyseTradingDay, 100_000);

export interface BatchQuality {
  /** One bar per (symbol, date): the last one in stream order. */
  accepted: AcceptedLiveBar[];
  /** Bars kept out of the store, one issue each. */
  rejected: QualityIssue[];
  /** Entries repeating an earlier entry of the batch value for value. */
  duplicatesInBatch: number;
  /** Entries replaced by a later entry with different values for the same symbol and date. */
  supersededInBatch: number;
  /**
   * Entries with other values than an entry of the batch for the same symbol and date that is newer
   * by production time (the earlier of event_time and the entry's time): the older one is dropped, whichever
   * comes later in the stream.
   */
  staleInBatch: number;
}

const RAW_LIMIT = 2000;
/** How far a message's event_time may be ahead of its entry's append time (hosts' clocks differ). */
export const EVENT_TIME_SKEW_MS = 5 * 60_000;

export function entrySource(streamKey: string, entryId: string, producerSource: string | undefined): string {
  const base = `${streamKey}#${entryId}`;
  return producerSource ? `${base} (${producerSource.slice(0, 200)})` : base;
}

function sameValues(a: Bar, b: Bar): boolean {
  return a.open === b.open && a.high === b.high && a.low === b.low && a.close === b.close && a.volume === b.volume;
}

export interface LiveBatchOptions {
  /**
   * The consumer's clock: bars dated after its New York date are rejected as `future_date`, as on
   * an import (lib/quality/rules.ts rowIssue), and so are entries whose id lies more than
   * EVENT_TIME_SKEW_MS ahead of it or has no time (entryAhead). Read once per batch; default the
   * real clock.
   */
  now?: () => Date;
}

/** When a stream entry was appended and its bar produced, as the consumer judges them. */
export interface EntryTiming {
  /**
   * The entry id's time: the stream's (Redis's) clock, the one producer and consumer share (NaN for
   * an id not made of a time). Never replaced by the consumer's clock: that reading differs at each
   * delivery, and a redelivery claimed later then looked newer than the entry appended after it.
   */
  appendedMs: number;
  /** event_time (NaN when the message has none). */
  eventMs: number;
  /** When the bar was produced: the earlier of appendedMs and event_time. */
  producedMs: number;
}

/** When the entry was appended and its bar produced: from the entry alone (its id and event_time). */
export function entryTiming(entryId: string, eventTime: string | undefined): EntryTiming {
  const appendedMs = entryTimeMs(entryId);
  const eventMs = eventTime === undefined ? Number.NaN : Date.parse(eventTime);
  return { appendedMs, eventMs, producedMs: eventMs < appendedMs ? eventMs : appendedMs };
}

/**
 * The time a bar's stored version carries (bars.event_time, as eventTimeKey writes it): when the bar
 * was produced, the earlier of the message's event_time and its entry's time, the time
 * session_not_closed judges it by. A function of the entry alone: every delivery (a claimed pending
 * entry, a group reset) orders it alike. Not the raw event_time: one running ahead of its append
 * (within EVENT_TIME_SKEW_MS) made a correction appended just after it stale. Without a time, a
 * version lost to any import: the same file, first seen before a live correction, imported again
 * reverted it (68.40 back to 68.06).
 */
export function versionTimeOf(timing: EntryTiming): string {
  return new Date(timing.producedMs).toISOString();
}

/**
 * True when the entry id's time lies more than EVENT_TIME_SKEW_MS ahead of the consumer's clock, or
 * the id has no time: a host clock is wrong, and the entry's time (its version's) cannot be trusted.
 * Such an entry is refused (future_date), not dated by the consumer's clock: that would give each
 * delivery another time.
 */
function entryAhead(timing: EntryTiming, clockMs: number): boolean {
  return !(timing.appendedMs <= clockMs + EVENT_TIME_SKEW_MS); // NaN never is within
}

/** True when event_time is later than the entry was appended by more than the skew hosts' clocks may have. */
function eventAfterAppend(timing: EntryTiming): boolean {
  return timing.eventMs > timing.appendedMs + EVENT_TIME_SKEW_MS;
}

/**
 * Whether checkLiveBatch accepts the timing of a bar of trading day `date` appended as `entryId`
 * (session_not_closed and the event_time skew; the value rules aside), judged at `clockMs`. A
 * producer asks it with the ids it got back, so it can deliver again what would be rejected.
 */
export function liveTimingAccepted(date: string, eventTime: string | undefined, entryId: string, clockMs: number): boolean {
  const timing = entryTiming(entryId, eventTime);
  return !entryAhead(timing, clockMs) && !(timing.producedMs < finalAt(date)) && !eventAfterAppend(timing);
}

export function checkLiveBatch(entries: readonly StreamEntry[], streamKey: string, options: LiveBatchOptions = {}): BatchQuality {
  const clock = (options.now ?? (() => new Date()))();
  const clockMs = clock.getTime();
  const today = newYorkDate(clock);
  const rejected: QualityIssue[] = [];
  const latest = new Map<string, AcceptedLiveBar>();
  let duplicatesInBatch = 0;
  let supersededInBatch = 0;
  let staleInBatch = 0;
  for (const entry of entries) {
    const decoded = decodeLiveBar(entry.fields);
    if (!decoded.ok) {
      rejected.push(issue(decoded.rule, { symbol: decoded.symbol, date: decoded.date, source: entrySource(streamKey, entry.id, liveBarSource(entry.fields)), line: null, message: decoded.message, raw: rawOf(entry) }));
      continue;
    }
    const bar = barOf(decoded.bar);
    const timing = entryTiming(entry.id, decoded.bar.eventTime);
    if (entryAhead(timing, clockMs)) {
      const said = Number.isNaN(timing.appendedMs) ? `its stream entry id ${entry.id} has no time` : `its stream entry id says ${new Date(timing.appendedMs).toISOString()}, more than ${EVENT_TIME_SKEW_MS / 60_000} minutes ahead of the live consumer's clock (${clock.toISOString()})`;
      rejected.push(issue('future_date', { symbol: bar.symbol, date: bar.date, source: entrySource(streamKey, entry.id, decoded.bar.source), line: null, raw: rawOf(entry), message: `${said}: the stream's (Redis's) host clock or the consumer's is wrong; the entry's time orders the bar's versions, so the bar is not stored rather than dated by a clock that differs at each delivery` }));
      continue;
    }
    // A bar before its session's close (plus the margin) is unfinished, as on an import: a feed
    // polled during the session must not store it, nor mature logged predictions on its close (an
    // outcome is written once and never rewritten). Judged as of when the bar was produced: a bar
    // read late (backlog, restart, redelivery) is as unfinished as when it was appended.
    const asOf = timing.producedMs;
    if (!rowPasses(bar, today) || asOf < finalAt(bar.date)) {
      const candidate: CandidateBar = { ...bar, source: entrySource(streamKey, entry.id, decoded.bar.source), line: 0, raw: rawOf(entry) };
      // Before the other row rules but after future_date, as in rowIssue.
      const open = bar.date <= today && bar.date >= EARLIEST_BAR_DATE && tradingDay(bar.date) && asOf < finalAt(bar.date);
      const problem = open ? unfinished(candidate, timing) : rowIssue(candidate, today, undefined, 'live consumer');
      if (problem) {
        rejected.push({ ...problem, line: null });
        continue;
      }
    }
    // Produced after it was appended (or read): a producer's clock error. Stored, such a time
    // would outrank every later correction of the bar (they would all be stale).
    if (eventAfterAppend(timing)) {
      const source = entrySource(streamKey, entry.id, decoded.bar.source);
      rejected.push(issue('future_date', { symbol: bar.symbol, date: bar.date, source, line: null, raw: rawOf(entry), message: `event_time ${decoded.bar.eventTime} is after the entry was appended (${new Date(timing.appendedMs).toISOString()}) by more than ${EVENT_TIME_SKEW_MS / 60_000} minutes: the producer's clock is wrong, and such a time would make every later correction of the bar look older than it` }));
      continue;
    }
    const key = `${bar.symbol}\u0000${bar.date}`;
    const earlier = latest.get(key);
    const accepted: AcceptedLiveBar = new Accepted(bar, entry, streamKey, decoded.bar.source, versionTimeOf(timing));
    if (earlier) {
      if (sameValues(earlier.bar, bar)) {
        duplicatesInBatch++;
        // The repeat that states the values latest is kept: its time is the stored version's.
        if (accepted.eventTime < earlier.eventTime) continue;
      } else if (accepted.eventTime < earlier.eventTime) {
        // Produced before the entry it follows (a re-sent backlog): the newer version stays.
        staleInBatch++;
        continue;
      } else supersededInBatch++;
    }
    latest.set(key, accepted);
  }
  return { accepted: [...latest.values()], rejected, duplicatesInBatch, supersededInBatch, staleInBatch };
}

/**
 * The batch without the bars of symbols whose instrument kind cannot be read (a suffix no rule reads,
 * `XYZ.ZZ`, that `readable` does not declare): rejected as `invalid_symbol`, as an import refuses
 * them until declared. Stored, such a bar made every cross-section of the consumer throw (the
 * universe cannot tell whether the series is a US equity), so no vector was published any more,
 * and a restarted consumer could not load its windows.
 */
export function withoutUnreadKinds(checked: BatchQuality, readable: (symbol: string) => boolean): BatchQuality {
  if (checked.accepted.every((a) => readable(a.bar.symbol))) return checked;
  const accepted: AcceptedLiveBar[] = [];
  const rejected = [...checked.rejected];
  for (const a of checked.accepted) {
    if (readable(a.bar.symbol)) accepted.push(a);
    else rejected.push(issue('invalid_symbol', { symbol: a.bar.symbol, date: a.bar.date, source: a.source, line: null, raw: a.raw, message: `${undeclaredSuffixMessage([a.bar.symbol], 'the consumer\'s feature sets\' "instruments"')}; the bar is not stored` }));
  }
  return { ...checked, accepted, rejected };
}

/**
 * When a bar of trading day `date` becomes final (its close plus the margin), as epoch ms; -Infinity
 * for a day without a session (no bar of it passes the row rules anyway). New York is UTC-4 or UTC-5.
 */
const finalAt = memoize((date: string): number => {
  const close = nyseCloseTime(date);
  if (close === undefined) return Number.NEGATIVE_INFINITY;
  const minutes = Number(close.slice(0, 2)) * 60 + Number(close.slice(3, 5)) + SESSION_CLOSE_MARGIN_MINUTES;
  const local = Date.parse(`${date}T00:00:00Z`) + minutes * 60_000;
  for (const offsetHours of [4, 5]) {
    const at = local + offsetHours * 3_600_000;
    const ny = newYorkClock(new Date(at));
    if (ny.date === date && ny.minutes === minutes) return at;
  }
  return local + 5 * 3_600_000;
}, 100_000);

/** session_not_closed for a bar produced at `timing.producedMs`, before its session was final. */
function unfinished(candidate: CandidateBar, timing: EntryTiming): QualityIssue {
  const close = nyseCloseTime(candidate.date) as string;
  return issue('session_not_closed', {
    symbol: candidate.symbol,
    date: candidate.date,
    source: candidate.source,
    line: candidate.line,
    raw: candidate.raw,
    message: `${candidate.date}'s session was not over when the bar was produced: its stream entry or event_time says ${newYorkAt(timing.producedMs)} New York, before the ${close} close plus ${SESSION_CLOSE_MARGIN_MINUTES} minutes, so the bar is unfinished (read later, it is unfinished all the same)`,
  });
}

/** "YYYY-MM-DD HH:MM" in New York. */
function newYorkAt(ms: number): string {
  const at = newYorkClock(new Date(ms));
  return `${at.date} ${String(Math.floor(at.minutes / 60)).padStart(2, '0')}:${String(at.minutes % 60).padStart(2, '0')}`;
}

/**
 * Series flags for the bars of one symbol that just changed, against the stored bars around them:
 * extreme_move and calendar_gap between a changed bar and the bar before it, extreme_move between a
 * changed bar and the stored bar after it, unadjusted_split into a changed bar, and stale_close once,
 * when a run of equal closes ending at a changed bar reaches the policy's length.
 * `series` is the symbol's window ascending by date, changed bars included.
 */
export function seriesFlags(series: readonly Bar[], changed: ReadonlyMap<string, { source: string; raw: string }>, policy: QualityPolicy): QualityIssue[] {
  const flags: QualityIssue[] = [];
  const pairPolicy: QualityPolicy = { ...policy, minHistoryBars: 1, staleCloseDays: Number.MAX_SAFE_INTEGER };
  const runPolicy: QualityPolicy = { ...policy, minHistoryBars: 1, extremeMoveLimit: Number.POSITIVE_INFINITY };
  // The changed bars' places in the series (ascending by date), found by search rather than a scan of the window.
  const places: number[] = [];
  for (const date of changed.keys()) {
    const { index, found } = indexOfDate(series, date);
    if (found) places.push(index);
  }
  places.sort(ascending);
  // Runs of volume 0 already flagged: several bars of one run in a batch make one finding, as a file's rows do.
  const zeroRuns = new Set<string>();
  for (const i of places) {
    const at = changed.get(series[i].date) as { source: string; raw: string };
    // The pair rules can only fire on a move beyond the limit or a trading day between the two bars.
    if (i > 0 && (Math.abs(series[i].close / series[i - 1].close - 1) > pairPolicy.extremeMoveLimit || nextTradingDay(series[i - 1].date) < series[i].date)) {
      for (const q of seriesIssues([candidateOf(series[i - 1], at), candidateOf(series[i], at)], pairPolicy)) {
        if (q.rule === 'extreme_move' || q.rule === 'calendar_gap') flags.push(withoutLine(q, at));
      }
    }
    const scaled = i > 0 ? scaledExtremeMove(series, i, policy, at) : undefined;
    if (scaled !== undefined) flags.push(scaled);
    // The move on to the stored bar after a late or corrected bar (a changed bar after it is judged
    // as its own): an import flags where a file's rows meet the stored bars on both sides.
    // And the sessions still missing before that bar (a late bar filling part of a gap: the rest of it
    // is flagged anew, since the flag of the whole gap goes, filledGaps).
    const next = series[i + 1];
    if (next !== undefined && !changed.has(next.date) && (Math.abs(next.close / series[i].close - 1) > pairPolicy.extremeMoveLimit || nextTradingDay(series[i].date) < next.date)) {
      for (const q of seriesIssues([candidateOf(series[i], at), candidateOf(next, at)], pairPolicy)) if (q.rule === 'extreme_move' || q.rule === 'calendar_gap') flags.push(withoutLine(q, at));
    }
    const scaledNext = next !== undefined && !changed.has(next.date) ? scaledExtremeMove(series, i + 1, policy, at) : undefined;
    if (scaledNext !== undefined) flags.push(scaledNext);
    // An overnight move by a split ratio with the volume moving by the inverse ratio, whatever its
    // size (a 3:2 split is -33%, under the extreme-move limit), judged on the window as an import
    // judges a file's rows: with the bars before and those after it that are stored.
    if (i > 0) {
      const split = splitFinding(series, i);
      if (split !== undefined) flags.push(issue('unadjusted_split', { symbol: series[i].symbol, date: series[i].date, source: at.source, line: null, raw: at.raw, message: split }));
    }
    if (series[i].volume === 0) {
      const zero = zeroVolumeRun(series, i);
      if (zero !== undefined && !zeroRuns.has(zero.from)) {
        zeroRuns.add(zero.from);
        flags.push(issue('zero_volume', { symbol: series[i].symbol, date: zero.from, source: at.source, line: null, raw: at.raw, message: zero.message }));
      }
    }
    let start = i;
    while (start > 0 && series[start - 1].close === series[i].close) start--;
    if (i - start + 1 === policy.staleCloseDays) {
      for (const q of seriesIssues(series.slice(start, i + 1).map((b) => candidateOf(b, at)), runPolicy)) if (q.rule === 'stale_close') flags.push(withoutLine(q, at));
    }
  }
  return flags;
}

const SCALE_FLOOR = Math.log(1 + MOVE_SCALE_FLOOR);

/**
 * extreme_move on the symbol's own scale for the move into series[i] (lib/quality/move-scale.ts):
 * within the fixed limit (which the pair rule above flags) but beyond max(10%, 8σ), σ read from the
 * window's closes before it, as an import reads it from the file's rows and the stored bars. The
 * pair rule sees two bars, so a +15% day of a symbol moving 1% a day carried no flag when it came live.
 */
function scaledExtremeMove(series: readonly Bar[], i: number, policy: QualityPolicy, at: { source: string; raw: string }): QualityIssue | undefined {
  const [prev, cur] = [series[i - 1], series[i]];
  if (!(Math.abs(Math.log(cur.close / prev.close)) > SCALE_FLOOR) || Math.abs(cur.close / prev.close - 1) > policy.extremeMoveLimit) return undefined;
  const before = series.slice(Math.max(0, i - VOLATILITY_RETURNS - 1), i);
  const closes = before.map((b) => b.close);
  // Across splits, as an import measures it (a split is no move of the symbol's).
  const splits = closeSplits(closes, before.map((b) => b.volume));
  const message = extremeMoveMessage(prev.close, cur.close, policy.extremeMoveLimit, moveScaleVolatility(closes, closes.length, { splits }));
  return message === undefined ? undefined : issue('extreme_move', { symbol: cur.symbol, date: cur.date, source: at.source, line: null, raw: at.raw, message });
}

/**
 * The calendar_gap findings (rule, symbol, date, message: what seriesFlags made of them) that bars
 * arriving late fill: a bar of session D stored between the window's bars P and N, where the gap
 * P..N was flagged when N arrived (delivered out of order). The flag described sessions that are no
 * longer all missing; seriesFlags flags what is left of the gap on either side of D anew.
 * `window` is the symbol's window before the bars are applied, `late` the bars, ascending.
 */
export function filledGaps(window: readonly Bar[], late: readonly Bar[], policy: QualityPolicy): QualityIssue[] {
  const out: QualityIssue[] = [];
  const pairPolicy: QualityPolicy = { ...policy, minHistoryBars: 1, staleCloseDays: Number.MAX_SAFE_INTEGER, extremeMoveLimit: Number.POSITIVE_INFINITY };
  const seen = new Set<number>();
  for (const b of late) {
    const { index, found } = indexOfDate(window, b.date);
    // P = window[index - 1], N = window[index]: the bar is new between them.
    if (found || index === 0 || index >= window.length || seen.has(index)) continue;
    const [p, n] = [window[index - 1], window[index]];
    if (!(nextTradingDay(p.date) < n.date)) continue;
    seen.add(index);
    const at = { source: '', raw: '' };
    for (const q of seriesIssues([candidateOf(p, at), candidateOf(n, at)], pairPolicy)) if (q.rule === 'calendar_gap') out.push(q);
  }
  return out;
}

/**
 * `zero_volume` (flag) on the live path, as for a file's rows (lib/quality/stored-rules.ts): an
 * equity's bar of volume 0 that makes a run of ZERO_VOLUME_RUN or more consecutive bars of volume 0
 * in the window (once, when the run reaches that length). Symbols of other or unread kinds (indices,
 * `$VIX`, futures) are not checked: they have no volume.
 */
function zeroVolumeRun(series: readonly Bar[], i: number): { from: string; message: string } | undefined {
  const kind = knownInstrumentKind(series[i].symbol);
  if (kind === undefined || !VOLUME_KINDS.has(kind)) return undefined;
  let start = i;
  while (start > 0 && series[start - 1].volume === 0) start--;
  let end = i;
  while (end + 1 < series.length && series[end + 1].volume === 0) end++;
  // Reached with this bar: the parts on either side of it were each shorter.
  if (end - start + 1 < ZERO_VOLUME_RUN || i - start >= ZERO_VOLUME_RUN || end - i >= ZERO_VOLUME_RUN) return undefined;
  const from = series[start].date;
  const to = series[end].date;
  const before = start > 0 ? `, after volume ${series[start - 1].volume} on ${series[start - 1].date}` : '';
  return { from, message: `volume is 0 on ${end - start + 1} consecutive bars (${from}..${to})${before}: ${kind === 'etf' ? 'an ETF' : 'an equity'} trades every session, so the feed's volumes are missing; stored as sent` };
}

function ascending(a: number, b: number): number {
  return a - b;
}

function candidateOf(b: Bar, at: { source: string; raw: string }): CandidateBar {
  return { ...b, source: at.source, line: 0, raw: at.raw };
}

function withoutLine(q: QualityIssue, at: { raw: string }): QualityIssue {
  return { ...q, line: null, raw: q.raw === null ? null : at.raw };
}

/** nextNyseTradingDay per date, remembered. */
const nextTradingDay = memoize(nextNyseTradingDay, 100_000);
