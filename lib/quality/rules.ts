import { groupBy } from '../group-by';
import { isNyseTradingDay, missingNyseTradingDays, newYorkClock, nyseCloseTime } from '../calendar/nyse';
import { EARLIEST_BAR_DATE, limitProblem, type Bar } from '../market-data/bar';
import type { CandidateBar } from '../market-data/csv-reader';
import { SESSION_CLOSE_MARGIN_MINUTES, type QualityPolicy } from './policy';
import { issue, type QualityIssue } from './rules-catalog';

/**
 * The exchange's calendar date at `now` (bars are dated in New York), as YYYY-MM-DD: a bar dated
 * after it cannot have traded yet.
 */
export function newYorkDate(now: Date): string {
  return newYorkClock(now).date;
}

/** The exchange's time of day at `now`, HH:MM (24-hour, New York). */
export function newYorkTime(now: Date): string {
  return hhmmOf(newYorkClock(now).minutes);
}

const minutesOf = (hhmm: string): number => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
const hhmmOf = (minutes: number): string => `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;

/**
 * The import's own New York trading day while its bar is not final: `date` (the New York date of
 * the clock) is a trading day and the clock (`clock`, HH:MM New York) is before its close (`close`:
 * 16:00, or the early close of lib/calendar/nyse.ts) plus the margin (`finalAt`).
 */
export interface OpenSession {
  date: string;
  close: string;
  finalAt: string;
  clock: string;
}

/**
 * The session a bar dated on the clock's New York date would come from, when that bar cannot be
 * final yet: before the day's NYSE close plus `marginMinutes` (SESSION_CLOSE_MARGIN_MINUTES). Undefined
 * once that time has passed, or when the day is no trading day (no bar of it is valid anyway).
 */
export function openSession(now: Date, marginMinutes = SESSION_CLOSE_MARGIN_MINUTES): OpenSession | undefined {
  const { date, minutes } = newYorkClock(now);
  const close = nyseCloseTime(date);
  if (close === undefined) return undefined;
  const finalAt = minutesOf(close) + marginMinutes;
  return minutes < finalAt ? { date, close, finalAt: hhmmOf(finalAt), clock: hhmmOf(minutes) } : undefined;
}

/**
 * Row-level rules: the first one a row breaks rejects it (one issue per rejected row). With
 * `today` (the New York date of the import's clock), a bar dated after it is a `future_date`; with
 * `session` (openSession of that clock: its trading day has not closed yet), a bar dated on that day
 * is `session_not_closed`, an unfinished bar.
 * Values must be finite and within the limits of lib/market-data/bar.ts (`implausible_value`):
 * the readers check each field as read, this checks the values about to be stored, whatever made them.
 */
export function rowIssue(bar: CandidateBar, today?: string, session?: OpenSession): QualityIssue | undefined {
  const at = { symbol: bar.symbol, date: bar.date, source: bar.source, line: bar.line, raw: bar.raw };
  if (today !== undefined && bar.date > today) return issue('future_date', { ...at, message: `${bar.date} is after ${today}, the date of the import` });
  if (session !== undefined && bar.date === session.date) {
    return issue('session_not_closed', {
      ...at,
      message: `${bar.date} is the import's own trading day and its session was not over: the import's clock read ${session.clock} New York, before the ${session.close} close plus ${minutesOf(session.finalAt) - minutesOf(session.close)} minutes (${session.finalAt}), so the bar is unfinished`,
    });
  }
  if (bar.date < EARLIEST_BAR_DATE) return issue('invalid_date', { ...at, message: `${bar.date} is before ${EARLIEST_BAR_DATE}: no exchange's daily data is that old` });
  const implausible = implausibleField(bar);
  if (implausible) return issue('implausible_value', { ...at, message: implausible });
  if (!isNyseTradingDay(bar.date)) return issue('non_trading_day', { ...at, message: `${bar.date} is not an NYSE trading day` });
  const prices = { open: bar.open, high: bar.high, low: bar.low, close: bar.close };
  const nonPositive = Object.entries(prices).find(([, v]) => v <= 0);
  if (nonPositive) return issue('non_positive_price', { ...at, message: `${nonPositive[0]} is ${nonPositive[1]}` });
  if (bar.high < Math.max(bar.open, bar.close) || bar.low > Math.min(bar.open, bar.close) || bar.high < bar.low) {
    return issue('ohlc_inconsistent', {
      ...at,
      message: `open ${bar.open}, high ${bar.high}, low ${bar.low}, close ${bar.close} do not fit high >= max(open, close) >= min(open, close) >= low`,
    });
  }
  if (bar.volume < 0) return issue('negative_volume', { ...at, message: `volume is ${bar.volume}` });
  return undefined;
}

const VALUE_FIELDS = ['open', 'high', 'low', 'close', 'volume'] as const;

/** The first value of `bar` beyond the limits of lib/market-data/bar.ts, as "<field> <value> <why>", or undefined. */
export function implausibleField(bar: Bar): string | undefined {
  for (const field of VALUE_FIELDS) {
    const problem = limitProblem(bar[field], field === 'volume');
    if (problem !== undefined) return `${field} ${bar[field]} ${problem}`;
  }
  return undefined;
}

function sameValues(a: Bar, b: Bar): boolean {
  return a.open === b.open && a.high === b.high && a.low === b.low && a.close === b.close && a.volume === b.volume;
}

/**
 * Duplicate (symbol, date) rows. Exact copies keep the first row; conflicting copies reject every
 * copy, because nothing says which one is right and a wrong bar is worse than a missing one.
 */
export function splitDuplicates(bars: readonly CandidateBar[]): { unique: CandidateBar[]; issues: QualityIssue[] } {
  const groups = groupBy(bars, (b) => `${b.symbol}\u0000${b.date}`);
  const unique: CandidateBar[] = [];
  const issues: QualityIssue[] = [];
  for (const group of groups.values()) {
    const [first, ...rest] = group;
    if (rest.length === 0) {
      unique.push(first);
      continue;
    }
    const conflicting = rest.some((b) => !sameValues(b, first));
    const rejected = conflicting ? group : rest;
    if (!conflicting) unique.push(first);
    for (const b of rejected) {
      issues.push(
        issue('duplicate_date', {
          symbol: b.symbol,
          date: b.date,
          source: b.source,
          line: b.line,
          raw: b.raw,
          message: conflicting
            ? `${group.length} rows for ${b.symbol} ${b.date} with different values (lines ${group.map((g) => g.line).join(', ')}); all rejected`
            : `exact copy of line ${first.line}`,
        }),
      );
    }
  }
  return { unique, issues };
}

/** Flags a file whose rows for one symbol are neither ascending nor descending by date. */
export function orderIssues(bars: readonly CandidateBar[]): QualityIssue[] {
  const bySymbolSource = groupBy(bars, (b) => `${b.symbol}\u0000${b.source}`);
  const issues: QualityIssue[] = [];
  for (const list of bySymbolSource.values()) {
    let up = 0;
    let down = 0;
    let firstBreak: CandidateBar | undefined;
    for (let i = 1; i < list.length; i++) {
      if (list[i].date > list[i - 1].date) up++;
      else if (list[i].date < list[i - 1].date) down++;
      if (up > 0 && down > 0 && !firstBreak) firstBreak = list[i];
    }
    if (firstBreak) {
      issues.push(
        issue('unsorted_input', {
          symbol: firstBreak.symbol,
          date: firstBreak.date,
          source: firstBreak.source,
          line: firstBreak.line,
          raw: firstBreak.raw,
          message: `dates out of order from line ${firstBreak.line} (${up} steps forward, ${down} back); rows were sorted`,
        }),
      );
    }
  }
  return issues;
}

const SPLIT_RATIOS = [2, 3, 4, 5, 10, 1.5, 1 / 2, 1 / 3, 1 / 4, 1 / 5, 1 / 10, 2 / 3];

function splitHint(ratio: number): string {
  const near = SPLIT_RATIOS.find((r) => Math.abs(ratio / r - 1) < 0.04);
  if (near === undefined) return '';
  const [a, b] = near < 1 ? [Math.round(1 / near), 1] : [1, Math.round(near)];
  const label = near === 2 / 3 ? '3:2' : near === 1.5 ? '2:3 reverse' : near < 1 ? `${a}:${b}` : `${a}:${b} reverse`;
  return `; looks like an unadjusted ${label} split`;
}

/** Series-level rules on one symbol's accepted bars, ascending by date. */
export function seriesIssues(series: readonly CandidateBar[], policy: QualityPolicy): QualityIssue[] {
  if (series.length === 0) return [];
  const symbol = series[0].symbol;
  const issues: QualityIssue[] = [];
  const at = (b: CandidateBar) => ({ symbol, date: b.date, source: b.source, line: b.line, raw: b.raw });

  if (series.length < policy.minHistoryBars) {
    issues.push(
      issue('short_series', {
        symbol,
        date: series[0].date,
        source: series[0].source,
        line: null,
        raw: null,
        message: `${series.length} bars, the feature look-back needs ${policy.minHistoryBars}`,
      }),
    );
  }

  for (const gap of missingNyseTradingDays(series.map((b) => b.date))) {
    const after = series.find((b) => b.date > gap.from) ?? series[0];
    issues.push(
      issue('calendar_gap', {
        symbol,
        date: gap.from,
        source: after.source,
        line: null,
        raw: null,
        message: gap.days === 1 ? `trading day ${gap.from} missing` : `${gap.days} trading days missing ${gap.from}..${gap.to}`,
      }),
    );
  }

  let runStart = 0;
  for (let i = 1; i <= series.length; i++) {
    const prev = series[i - 1];
    if (i < series.length) {
      const bar = series[i];
      const move = bar.close / prev.close - 1;
      if (Math.abs(move) > policy.extremeMoveLimit) {
        issues.push(
          issue('extreme_move', {
            ...at(bar),
            message: `close ${prev.close} -> ${bar.close} (${(move * 100).toFixed(1)}%)${splitHint(bar.close / prev.close)}`,
          }),
        );
      }
      if (bar.close === series[runStart].close) continue;
    }
    const runLength = i - runStart;
    if (runLength >= policy.staleCloseDays) {
      const first = series[runStart];
      issues.push(
        issue('stale_close', {
          ...at(first),
          message: `close stayed ${first.close} for ${runLength} bars (${first.date}..${prev.date})`,
        }),
      );
    }
    runStart = i;
  }
  return issues;
}
