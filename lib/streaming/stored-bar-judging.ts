/**
 * Live bars judged against the stored bars, as an import's rows are when its snapshot is judged
 * (lib/quality/stored-rules.ts, lib/ingest/judge.ts). A stream delivers corrections of stored bars
 * (a provider polled with a look-back sends its last sessions again) and late bars between stored
 * ones, and these rules are what keeps a bad correction from replacing a good stored bar:
 *
 * - `volume_vanished` (reject): a bar with volume 0 where the stored bar of its date has volume;
 * - `one_bar_glitch` (reject): a bar beyond the move limit from both the bar before and the bar
 *   after it (stored or of the batch), which agree: a misplaced decimal point, not a move. The
 *   newest bar has no bar after it and cannot be told from a real move (flagged by seriesFlags);
 *   once the next bar arrives and agrees with the bar before it, the stored bar is that glitch and
 *   is retracted (`retracted`: deleted with the batch's write, logged, quarantined);
 * - `price_basis_splice` (reject): the batch's bars of a symbol revise the stored bars they share
 *   by a common factor (a provider that adjusted its history for a split or dividend the store does
 *   not have) while stored bars outside them stay on the old basis. Every bar of the symbol in the
 *   batch dated up to the last shared session is rejected, so the stored bars stay as they are; a
 *   new bar after them is stored (and flagged as the move it is, as an unadjusted split would be).
 *   `price_basis_change` (flag) when no stored bar is left on the old basis.
 * - `price_unit_change` (reject): every price of a changed bar a power of ten from the stored closes
 *   with the volume not moving by the inverse (a feed switching to cents), as for a file's rows
 *   (stored-rules.ts unitChangeIssue); the symbol's other changed bars of the batch go with it.
 * - `volume_basis_splice` (reject): the batch's bars revise the stored volumes they share by a common
 *   factor of ×10 or more (thousands, lots of 100: stored-rules.ts volumeBasisIssue), every bar of the
 *   symbol dated up to the last shared session rejected; or, with no shared session to read it from,
 *   the volumes step into other units where the bars meet the stored ones (volumeUnitStep): the bars
 *   from the step on. The same rule functions as an import's judging (lib/ingest/judge.ts).
 *
 * The price basis is judged on BASIS_MIN_SHARED shared sessions or more (priceBasisIssue says why):
 * a correction of the newest stored bar by one factor on every price (×1.4, its volume as stored) is
 * stored, flagged extreme_move, where a file with that one row is refused.
 *
 * Without them a correction ×10 of a stored bar, a correction without its volume, and a provider's
 * split-adjusted re-send of its last sessions replaced the stored bars, logged as revisions, marked
 * the stored features stale and moved the online vectors, with at most an extreme_move flag.
 */
import { addDays, toEpochDay } from '../calendar/dates';
import type { WindowColumns } from './bar-windows';
import { countNyseTradingDaysBetween } from '../calendar/nyse';
import { EARLIEST_BAR_DATE, indexOfDate, type Bar } from '../market-data/bar';
import { DUPLICATE_MAX_LAG, EQUAL_BAR_TOLERANCE } from '../quality/duplicate-series';
import type { QualityPolicy } from '../quality/policy';
import { issue, type QualityIssue } from '../quality/rules-catalog';
import { glitchLimit, UNIT_CHANGE_BEFORE_BARS } from '../quality/rules';
import { loneRuns, storedAroundOf, strayBarIssues, type StoredAround } from '../quality/stray-bars';
import { MOVE_SCALE_FLOOR } from '../quality/move-scale';
import { basisAtEdges, BASIS_MIN_SHARED, priceBasisIssue, sharedSessions, STORED_CONTEXT_DAYS, STORED_NEIGHBOUR_DAYS, storedBarIssues, unitChangeIssue, VOLUME_GLITCH_FACTOR, VOLUME_ONE_SIDED_SESSIONS, VOLUME_STEP_JUMP, volumeBasisFactor, volumeBasisIssue, volumeGlitches, volumeUnitStep, type RetractedBar } from '../quality/stored-rules';

/** One accepted bar of the batch with how it compares with the store. */
export interface JudgedLiveBar {
  bar: Bar;
  /** new: no stored bar for its date; revised: stored with other values; duplicate: stored as is. */
  change: 'new' | 'revised' | 'duplicate';
  /** Dated before the symbol's newest stored bar. */
  late: boolean;
}

export interface StoredBarReader {
  /**
   * The symbol's stored bars dated `from`..`to` (ascending); without a range, every stored bar of
   * the symbol.
   */
  read(symbol: string, range?: { from: string; to: string }): Promise<Bar[]>;
  /**
   * The symbol's newest stored bars held in memory (at most `sessions`), without a query; undefined
   * when none are held. What judges the steady case, one new bar, without a read per bar.
   */
  held?(symbol: string, sessions: number): readonly Bar[] | undefined;
  /**
   * The symbol's stored bars around `first`..`last` (lib/quality/stray-bars.ts StoredAround); without
   * it, taken from every stored bar of the symbol (read).
   */
  around?(symbol: string, first: string, last: string): Promise<StoredAround>;
}

export interface LiveStoredJudgement {
  /** Index into the bars given → the finding that rejects it. */
  rejected: Map<number, QualityIssue>;
  /** Flags to keep beside the stored bars (price_basis_change). */
  flags: QualityIssue[];
  /** Stored bars the batch's accepted bars show to be one-bar glitches: retracted when a revealing bar is written. */
  retracted: RetractedBar[];
}

/**
 * Judges one batch's accepted bars (one per symbol and date) against the stored bars. `stored`
 * reads them (the consumer answers from its windows where they hold the range, else the store).
 */
export async function judgeLiveAgainstStored(bars: readonly JudgedLiveBar[], stored: StoredBarReader, policy: Pick<QualityPolicy, 'extremeMoveLimit'>, otherSymbols?: OtherSymbolsReader): Promise<LiveStoredJudgement> {
  const rejected = new Map<number, QualityIssue>();
  const flags: QualityIssue[] = [];
  const retracted: RetractedBar[] = [];
  if (otherSymbols) copiedBars(bars, otherSymbols, rejected, flags);
  const beyond = Math.log(1 + glitchLimit(policy));
  const scaleFloor = Math.log(1 + MOVE_SCALE_FLOOR);
  const bySymbol = new Map<string, number[]>();
  bars.forEach((b, i) => {
    const list = bySymbol.get(b.bar.symbol);
    if (list) list.push(i);
    else bySymbol.set(b.bar.symbol, [i]);
  });
  for (const [symbol, indices] of bySymbol) {
    const changes = indices.filter((i) => bars[i].change !== 'duplicate' && !rejected.has(i));
    if (changes.length === 0) continue;
    // The steady case, one new bar after the newest stored one: no stored bar on its date, no bar
    // after it, no shared session for a price or volume basis. volume_glitch and a step in volume
    // units judge it from the stored sessions before it: those the consumer holds in memory (no read per bar).
    if (indices.length === 1 && bars[indices[0]].change === 'new' && !bars[indices[0]].late) {
      const bar = bars[indices[0]].bar;
      const before = stored.held?.(symbol, VOLUME_ONE_SIDED_SESSIONS);
      // The level is at least the lowest volume held: a bar under VOLUME_GLITCH_FACTOR times it is no glitch (nearly every bar, at no cost).
      let lowest = Number.POSITIVE_INFINITY;
      for (const b of before ?? []) if (b.volume > 0 && b.volume < lowest) lowest = b.volume;
      const [glitch] = before && bar.volume >= VOLUME_GLITCH_FACTOR * lowest ? volumeGlitches(symbol, [bar], before, '') : [];
      if (glitch) rejected.set(indices[0], glitch);
      // Volumes in other units from this bar on (lots of 100, thousands), the prices as usual: judged
      // as an import judges its next row (volumeUnitStep), only when the volume moves VOLUME_STEP_JUMP
      // times or more from the newest held bar's (the rule looks for nothing less). Before, a new bar
      // with its volume ÷100 was stored where the same row in a file is refused.
      const newest = before?.at(-1);
      const step = !glitch && before && newest && bar.volume > 0 && newest.volume > 0 && Math.max(bar.volume / newest.volume, newest.volume / bar.volume) >= VOLUME_STEP_JUMP ? volumeUnitStep(symbol, [bar], before, '', 'stream') : undefined;
      if (step) rejected.set(indices[0], step);
      // A move beyond the scaled rule's floor from the newest stored bar (rare): is that bar a glitch
      // this one undoes? Judged as an import judges its next row, with the stored bars of the
      // STORED_CONTEXT_DAYS before it (the symbol's σ: a stored newest bar +15% on a symbol moving 1%
      // a day is a glitch by its scale). Before, only a move beyond the fixed glitch limit (25-35%)
      // was judged, on the 60 bars held, so such a bar stayed stored.
      const move = newest ? Math.abs(Math.log(bar.close / newest.close)) : 0;
      if (!rejected.has(indices[0]) && before && newest && move > scaleFloor) {
        const context = await stored.read(symbol, { from: addDays(bar.date, -STORED_CONTEXT_DAYS), to: bar.date });
        const undone = [...storedBarIssues({ symbol, staged: [bar], stored: near(context, [bar]), kind: 'equity', source: '', context }, policy).retracted.values()];
        retracted.push(...undone);
        // Not undoing a glitch: every price a power of ten from the stored level, the volume as usual
        // (cents)? Not judged while the symbol's whole stored history is a few bars: which side is in
        // the other unit cannot be told (a new symbol's first live bar in cents refused every bar in
        // dollars after it); the move keeps its extreme_move flag.
        const unit = undone.length === 0 && move > beyond && before.length > UNIT_CHANGE_BEFORE_BARS ? unitChangeIssue({ symbol, staged: [bar], context: before, source: '', origin: 'stream' }) : undefined;
        if (unit) rejected.set(indices[0], unit);
      }
      continue;
    }
    indices.sort((a, b) => (bars[a].bar.date < bars[b].bar.date ? -1 : bars[a].bar.date > bars[b].bar.date ? 1 : 0));
    changes.sort((a, b) => (bars[a].bar.date < bars[b].bar.date ? -1 : bars[a].bar.date > bars[b].bar.date ? 1 : 0));
    // A late bar or two standing alone in the batch: judged with the stored series around its date,
    // as a file's lone rows are (a bar years before the stored history, a year typed wrong).
    await strayLiveBars(symbol, indices, bars, stored, rejected);
    if (!changes.some((i) => !rejected.has(i))) continue;
    changes.splice(0, changes.length, ...changes.filter((i) => !rejected.has(i)));
    const first = bars[indices[0]].bar.date;
    const last = bars[indices[indices.length - 1]].bar.date;
    // The stored bars of STORED_CONTEXT_DAYS around the batch's, as an import's judging reads them:
    // one_bar_glitch judges a move on the symbol's σ of 60 returns, which the 14 days of neighbours
    // (about 10 sessions) never held, so a correction ×1.3 of a quiet symbol was stored where the
    // same row in a file was refused. The other rules here read the neighbours (`around`).
    const context = await stored.read(symbol, { from: addDays(first, -STORED_CONTEXT_DAYS), to: addDays(last, STORED_CONTEXT_DAYS) });
    const nearFrom = addDays(first, -STORED_NEIGHBOUR_DAYS);
    const nearTo = addDays(last, STORED_NEIGHBOUR_DAYS);
    const around = context.filter((b) => b.date >= nearFrom && b.date <= nearTo);
    const byDate = new Map(indices.map((i) => [bars[i].bar.date, i]));

    // misdated_series: a correction carrying the stored bar of another session of the symbol.
    const misdated = misdatedRevision(changes.map((i) => bars[i]), around);
    if (misdated !== undefined) {
      // The series is rejected whole, as a file's: every changed bar of the symbol in the batch
      // (a shifted re-send's newest bar has no stored session after it to match, yet is as shifted).
      for (const i of changes) {
        const b = bars[i].bar;
        rejected.set(i, b.date === misdated.date ? misdated : issue('file_rejected', { symbol, date: b.date, source: '', line: null, raw: null, message: `this bar passed, but the symbol's bars of this batch are rejected whole (misdated_series): ${misdated.message}` }));
      }
      continue;
    }

    // volume_vanished and one_bar_glitch, with the stored bars near the changed ones as neighbours.
    const staged = changes.map((i) => bars[i].bar);
    const found = storedBarIssues({ symbol, staged, stored: near(around, staged), kind: 'equity', source: '', context }, policy);
    for (const [date, q] of found.rejected) rejected.set(byDate.get(date) as number, q);
    const revealed = [...found.retracted.values()];

    // Price basis: the batch's bars (repeats of stored values included, as a file's unchanged rows
    // are) against the stored bars of the same sessions.
    const kept = indices.filter((i) => !rejected.has(i)).map((i) => bars[i].bar);
    const shared = sharedSessions(kept, around);
    // Live bars are judged on BASIS_MIN_SHARED shared sessions or more (priceBasisIssue: why): no read of the stored series for fewer.
    const basis = shared.length < BASIS_MIN_SHARED || !basisAtEdges(shared) ? undefined : priceBasisIssue({ symbol, staged: kept, stored: await stored.read(symbol), source: '', origin: 'stream' });
    if (basis && basis.rule !== 'price_basis_splice') flags.push(basis);
    else if (basis) {
      const lastShared = shared[shared.length - 1].date;
      for (const i of changes) {
        const b = bars[i].bar;
        if (b.date > lastShared || rejected.has(i)) continue;
        rejected.set(i, issue('price_basis_splice', { symbol, date: b.date, source: '', line: null, raw: null, message: basis.message }));
      }
    }
    // Every price stepping by a power of ten where the bars meet the stored ones or among them, the
    // volume not moving by the inverse (no split): another price unit (cents). Judged on the stored
    // bars as the write leaves them (a glitch the batch retracts is no neighbour). Without this, a
    // feed switching to cents stored its bars as the newest with an extreme_move flag and moved the
    // online vectors. A stream has no file to refuse whole: the bars from the step on are rejected and
    // those before it kept, so what is stored does not depend on where batches happen to be cut.
    const open = changes.filter((i) => !rejected.has(i));
    const gone = new Set(revealed.filter((r) => r.revealedBy.some((d) => !rejected.has(byDate.get(d) as number))).map((r) => r.bar.date));
    let unitFound = false;
    if (open.length > 0) {
      const context = gone.size === 0 ? around : around.filter((b) => !gone.has(b.date));
      const unit = unitChangeIssue({ symbol, staged: open.map((i) => bars[i].bar), context, source: '', origin: 'stream' });
      // As in the steady case: not while the symbol's stored history before the step is a few bars.
      const judged = unit !== undefined && (await stored.read(symbol, { from: EARLIEST_BAR_DATE, to: addDays(unit.date as string, -1) })).filter((b) => !gone.has(b.date)).length > UNIT_CHANGE_BEFORE_BARS;
      if (unit && judged) {
        unitFound = true;
        rejectFromStep(symbol, unit, open, bars, rejected, 'a change of price unit');
      }
    }
    // Volumes in other units (thousands, lots of 100) with the prices as stored, which no price rule
    // sees: judged as an import's rows are (judge.ts), when no price rule found the batch on another
    // basis. A common factor over the stored volumes the bars share (volume_basis_splice): the bars up
    // to the last shared session are rejected, as for the price basis; without one, a step in units
    // where the bars meet the stored ones: the bars from the step on. Before, a correction ×100 of a
    // stored volume was stored with its revision logged where the same row in a file is refused.
    const volumeOpen = changes.filter((i) => !rejected.has(i));
    if (!basis && !unitFound && volumeOpen.length > 0) {
      const staged = indices.filter((i) => !rejected.has(i)).map((i) => bars[i].bar);
      const span = context.filter((b) => b.date >= first && b.date <= last);
      const factor = volumeBasisFactor(staged, span);
      const volume = factor === undefined ? undefined : volumeBasisIssue({ symbol, staged, stored: span, storedRange: rangeOf(await stored.read(symbol)), source: '', origin: 'stream' });
      if (volume) {
        const spanOn = new Map(span.map((b) => [b.date, b.volume]));
        const lastShared = staged.filter((b) => (spanOn.get(b.date) ?? 0) > 0 && b.volume > 0).at(-1)?.date as string;
        for (const i of volumeOpen) {
          const b = bars[i].bar;
          if (b.date <= lastShared) rejected.set(i, issue('volume_basis_splice', { symbol, date: b.date, source: '', line: null, raw: null, message: volume.message }));
        }
      } else {
        const withoutGone = gone.size === 0 ? context : context.filter((b) => !gone.has(b.date));
        const step = volumeUnitStep(symbol, volumeOpen.map((i) => bars[i].bar), withoutGone, '', 'stream');
        if (step) rejectFromStep(symbol, step, volumeOpen, bars, rejected, 'a change of volume unit');
      }
    }
    // A retraction stands with a revealing bar that is still accepted.
    retracted.push(...revealed.filter((r) => r.revealedBy.some((d) => !rejected.has(byDate.get(d) as number))));
  }
  return { rejected, flags, retracted };
}

/**
 * A step into other units found at `found.date` (price_unit_change, volume_basis_splice): a stream has
 * no file to refuse whole, so the open bars from the step on are rejected and those before it kept,
 * and what is stored does not depend on where batches are cut. A step into a stored bar (the batch's
 * bars before it are the ones off): every open bar before it.
 */
function rejectFromStep(symbol: string, found: QualityIssue, open: readonly number[], bars: readonly JudgedLiveBar[], rejected: Map<number, QualityIssue>, what: string): void {
  const at = found.date as string;
  const stepInBatch = open.some((i) => bars[i].bar.date === at);
  for (const i of open) {
    const b = bars[i].bar;
    if (stepInBatch ? b.date < at : b.date >= at) continue;
    rejected.set(i, b.date === at ? found : issue('file_rejected', { symbol, date: b.date, source: '', line: null, raw: null, message: `this bar passed, but it is ${stepInBatch ? 'after' : 'before'} ${what} of ${symbol} (${found.rule}): ${found.message}` }));
  }
}

/** The first and last date of a symbol's stored bars (ascending). */
function rangeOf(stored: readonly Bar[]): { from: string; to: string } {
  return { from: stored[0].date, to: stored[stored.length - 1].date };
}

/**
 * The stray-bar rule (lib/quality/stray-bars.ts) on one symbol's bars of the batch (`indices`,
 * ascending by date): its lone runs that hold a late changed bar (a bar after the newest stored one
 * is the feed going on) are judged with the stored bars around them; what it rejects goes into
 * `rejected`. Look-back re-sends of the last sessions are runs of their own, next to the stored bars.
 */
async function strayLiveBars(symbol: string, indices: readonly number[], bars: readonly JudgedLiveBar[], stored: StoredBarReader, rejected: Map<number, QualityIssue>): Promise<void> {
  const open = indices.filter((i) => !rejected.has(i));
  for (const run of loneRuns(open.map((i) => ({ date: bars[i].bar.date, i })))) {
    if (!run.some(({ i }) => bars[i].late && bars[i].change !== 'duplicate')) continue;
    const first = run[0].date;
    const last = run[run.length - 1].date;
    const around = stored.around ? await stored.around(symbol, first, last) : storedAroundOf(await stored.read(symbol), first, last);
    const found = strayBarIssues(run.map(({ i }) => bars[i].bar), around, 'live batch');
    for (const { i } of run) {
      const q = found.get(bars[i].bar);
      if (q) rejected.set(i, q);
    }
  }
}

/** Every symbol's stored bars the reader holds (the consumer's windows), ascending by date. */
export interface OtherSymbolsReader {
  symbols(): Iterable<string>;
  bars(symbol: string): readonly Bar[];
  /** The same bars as columns (index i of bars() is start + i). */
  columns(symbol: string): Pick<WindowColumns, 'days' | 'close' | 'start' | 'end' | 'length'> | undefined;
}

/** Calendar days that hold DUPLICATE_MAX_LAG sessions on either side of a date, holidays included. */
const LAG_CALENDAR_DAYS = 9;

/** Signed sessions from `a` to `b` (positive when `b` is later). */
function sessionsApart(a: string, b: string): number {
  if (a === b) return 0;
  return a < b ? countNyseTradingDaysBetween(a, b) - 1 : -(countNyseTradingDaysBetween(b, a) - 1);
}

/**
 * `lagged_duplicate` and `duplicate_series` on the live path: a changed bar that is another symbol's
 * bar (stored, or of the batch) of a session up to DUPLICATE_MAX_LAG away, open, high, low, close and
 * volume all equal: another symbol's bars sent under this one (at a lag: its future or stale prices,
 * rejected; on the same session: flagged, as the file rule flags a series equal to another's). The
 * file rules need 60 common sessions; a copy of every value of a traded bar, volume included, is that
 * evidence bar by bar: among the 466,578 bars of the 382 S&P 500 files, 2013-2018, no two symbols
 * share such a bar at any lag 0..5. Bars without volume or range (an index, a flat quote) are not judged.
 * Of two bars of the batch at a lag the one holding the other's later bar is rejected, as in a file.
 */
function copiedBars(bars: readonly JudgedLiveBar[], otherSymbols: OtherSymbolsReader, rejected: Map<number, QualityIssue>, flags: QualityIssue[]): void {
  // The judged bars by close: a few (the steady case) are compared in a loop, more through a map.
  const judged: number[] = [];
  let from: string | undefined;
  let to: string | undefined;
  bars.forEach(({ bar: b, change }, i) => {
    if (change === 'duplicate' || !(b.volume > 0) || !(b.high > b.low)) return;
    judged.push(i);
    if (from === undefined || b.date < from) from = b.date;
    if (to === undefined || b.date > to) to = b.date;
  });
  if (from === undefined || to === undefined) return;
  const byClose = judged.length > 8 ? new Map<number, number[]>() : undefined;
  for (const i of byClose ? judged : []) {
    const list = (byClose as Map<number, number[]>).get(bars[i].bar.close);
    if (list) list.push(i);
    else (byClose as Map<number, number[]>).set(bars[i].bar.close, [i]);
  }
  const flagged = new Set<string>();
  const visit = (o: Bar, inBatch: boolean): void => {
    const candidates = byClose ? byClose.get(o.close) : judged;
    if (candidates === undefined) return;
    for (const i of candidates) {
      if (bars[i].bar.close !== o.close) continue;
      const b = bars[i].bar;
      if (b.symbol === o.symbol || b.open !== o.open || b.high !== o.high || b.low !== o.low || b.volume !== o.volume || rejected.has(i)) continue;
      const lag = sessionsApart(b.date, o.date);
      if (Math.abs(lag) > DUPLICATE_MAX_LAG) continue;
      const where = inBatch ? 'in this batch' : 'stored';
      const values = `open ${b.open}, high ${b.high}, low ${b.low}, close ${b.close}, volume ${b.volume}`;
      if (lag === 0) {
        // Flagged once per pair, on the symbol that sorts later when both are of the batch.
        const pair = `${b.symbol}\u0000${o.symbol}\u0000${b.date}`;
        if ((inBatch && b.symbol < o.symbol) || flagged.has(pair)) continue;
        flagged.add(pair);
        flags.push(issue('duplicate_series', { symbol: b.symbol, date: b.date, source: '', line: null, raw: null, message: `the bar of ${b.symbol} ${b.date} (${values}) is ${o.symbol}'s bar of the same session (${where}), every value equal: another symbol's bars under this one, or one symbol sent under two names; stored as read` }));
        continue;
      }
      // Both of the batch: the one holding the other's later bar (lag > 0) is the copy.
      if (inBatch && lag < 0) continue;
      const k = Math.abs(lag);
      const how = lag > 0 ? `${k} session${k === 1 ? '' : 's'} later (another symbol's future prices)` : `${k} session${k === 1 ? '' : 's'} earlier (another symbol's stale prices)`;
      rejected.set(i, issue('lagged_duplicate', { symbol: b.symbol, date: b.date, source: '', line: null, raw: null, message: `the bar of ${b.symbol} ${b.date} (${values}) is ${o.symbol}'s bar of ${o.date} (${where}), ${how}, every value equal: another symbol's bars filed under this one would leak its prices into the market columns; rejected` }));
    }
  };
  const lo = addDays(from, -LAG_CALENDAR_DAYS);
  const hi = addDays(to, LAG_CALENDAR_DAYS);
  // Each window's bars in the range, read from its columns (typed arrays, epoch days): this runs
  // for every batch, the steady one of one or two bars too, so it reads no bar object it need not.
  const loDay = toEpochDay(lo);
  const hiDay = toEpochDay(hi);
  const few = byClose === undefined ? judged.map((i) => bars[i].bar.close) : undefined;
  for (const symbol of otherSymbols.symbols()) {
    const columns = otherSymbols.columns(symbol);
    if (columns === undefined || columns.length === 0) continue;
    const { days, close, start, end } = columns;
    if (days[end - 1] < loDay || days[start] > hiDay) continue;
    let k = end - 1;
    while (k > start && days[k] > hiDay) k--;
    for (; k >= start && days[k] >= loDay; k--) {
      if (few !== undefined ? !few.includes(close[k]) : !byClose?.has(close[k])) continue;
      visit(otherSymbols.bars(symbol)[k - start], false);
    }
  }
  for (const { bar: o, change } of bars) if (change !== 'duplicate') visit(o, true);
}

/** Open, high, low and close equal within rounding (the file rules' tolerance), on a bar with a range (a flat bar may repeat honestly). */
function sameSessionPrices(a: Bar, b: Bar): boolean {
  return a.high > a.low && equalWithinRounding(a.open, b.open) && equalWithinRounding(a.high, b.high) && equalWithinRounding(a.low, b.low) && equalWithinRounding(a.close, b.close);
}

/**
 * Whether a correction equal in prices to another session's stored bar is that bar, not a small
 * correction of its own that happens to meet it: a feed dating bars on the wrong session sends that
 * session's volume too. Without volumes, it moves more than one price of its own bar. A close
 * corrected by 7 cents (AFL 71.00 → 71.07, open, high and low as stored) met the session before's
 * bar within rounding and was rejected with the symbol's new bars of the batch.
 */
function anotherSessionsBar(b: Bar, other: Bar, own: Bar): boolean {
  if (b.volume > 0 && other.volume > 0) return Math.abs(b.volume - other.volume) <= 0.001 * Math.max(b.volume, other.volume);
  const moved = [b.open !== own.open, b.high !== own.high, b.low !== own.low, b.close !== own.close].filter(Boolean).length;
  return moved >= 2;
}

function equalWithinRounding(x: number, y: number): boolean {
  return Math.abs(x - y) <= Math.max(EQUAL_BAR_TOLERANCE.absolute, EQUAL_BAR_TOLERANCE.relative * Math.max(Math.abs(x), Math.abs(y))) + 1e-12;
}

/**
 * `misdated_series` on the live path: a correction of a stored bar (the store holds the session with
 * other values) whose prices are the symbol's stored bar of another session up to DUPLICATE_MAX_LAG
 * away: a feed dating its bars sessions early (the bar of 2018-03-02 sent as 2018-03-01: future
 * prices under an earlier date) or late. The file rule needs 60 sessions of returns; a stored
 * session's bar repeated under another date is the same evidence bar by bar. Only corrections are
 * judged: a new bar equal to a stored one of another session is what the vendor data itself holds
 * (in the 382 S&P 500 files, 2013-2018, 372 bars repeat the previous session's prices, e.g. many
 * symbols' 2014-08-01 bar on 2014-08-04), which an import stores too.
 */
function misdatedRevision(changes: readonly JudgedLiveBar[], around: readonly Bar[]): QualityIssue | undefined {
  for (const c of changes) {
    if (c.change !== 'revised') continue;
    const b = c.bar;
    const { index, found } = indexOfDate(around, b.date);
    if (!found) continue;
    for (const step of [1, -1]) {
      for (let k = 1; k <= DUPLICATE_MAX_LAG; k++) {
        const other = around[index + step * k];
        if (other === undefined) break;
        const sessions = step > 0 ? countNyseTradingDaysBetween(b.date, other.date) - 1 : countNyseTradingDaysBetween(other.date, b.date) - 1;
        if (sessions > DUPLICATE_MAX_LAG) break;
        if (!sameSessionPrices(b, other) || sameSessionPrices(b, around[index]) || !anotherSessionsBar(b, other, around[index])) continue;
        const how = step > 0 ? `${sessions} session${sessions === 1 ? '' : 's'} early (future prices under an earlier date)` : `${sessions} session${sessions === 1 ? '' : 's'} late`;
        return issue('misdated_series', {
          symbol: b.symbol,
          date: b.date,
          source: '',
          line: null,
          raw: null,
          message: `the bar of ${b.symbol} ${b.date} (open ${b.open}, high ${b.high}, low ${b.low}, close ${b.close}) would replace the stored bar of ${b.date} (close ${around[index].close}) with the stored bar of ${other.date} (open ${other.open}, high ${other.high}, low ${other.low}, close ${other.close}), equal within rounding: the feed dates its bars ${how}; rejected, the stored bars kept (fix the feed's dates)`,
        });
      }
    }
  }
  return undefined;
}

/** The stored bars within STORED_NEIGHBOUR_DAYS calendar days of a bar of `staged` (both ascending by date). */
function near(stored: readonly Bar[], staged: readonly Bar[]): Bar[] {
  const out: Bar[] = [];
  let k = -1; // the last bar of `staged` dated on or before the stored bar
  for (const b of stored) {
    while (k + 1 < staged.length && staged[k + 1].date <= b.date) k++;
    const before = k >= 0 ? staged[k] : undefined;
    const after = staged[k + 1];
    if ((before && b.date <= addDays(before.date, STORED_NEIGHBOUR_DAYS)) || (after && b.date >= addDays(after.date, -STORED_NEIGHBOUR_DAYS))) out.push(b);
  }
  return out;
}
