import { groupBy } from '../group-by';
import type { Bar } from '../market-data/bar';
import type { CandidateBar } from '../market-data/csv-reader';
import type { QualityPolicy } from './policy';
import { newYorkDate, orderIssues, rowIssue, seriesIssues, splitDuplicates } from './rules';
import { FILE_LEVEL_RULES, issue, QUALITY_RULES, type QualityIssue, type QualityRuleId } from './rules-catalog';

export interface SymbolQuality {
  rowsAccepted: number;
  rowsRejected: number;
  flags: number;
  firstDate: string | null;
  lastDate: string | null;
}

/** Per-run quality report: counts per rule and per symbol. Stored with the dataset snapshot. */
export interface QualityReport {
  policy: QualityPolicy;
  rowsRead: number;
  rowsAccepted: number;
  rowsRejected: number;
  /** Findings that did not reject a row (gaps, stale closes, extreme moves, …). */
  flags: number;
  badRowShare: number;
  byRule: Partial<Record<QualityRuleId, number>>;
  bySymbol: Record<string, SymbolQuality>;
}

export interface QualityCheckResult {
  accepted: Bar[];
  issues: QualityIssue[];
  report: QualityReport;
}

export interface QualityCheckOptions {
  /** The import's clock; bars dated after its New York date are rejected (default: the real clock). */
  now?: () => Date;
}

/**
 * Runs every rule over the rows read from all sources of one import. `readIssues` are the
 * field-level rejections the CSV reader already made; they count toward the bad-row share.
 */
export function checkQuality(
  candidates: readonly CandidateBar[],
  readIssues: readonly QualityIssue[],
  rowsRead: number,
  policy: QualityPolicy,
  options: QualityCheckOptions = {},
): QualityCheckResult {
  const today = newYorkDate((options.now ?? (() => new Date()))());
  const issues: QualityIssue[] = [...readIssues, ...orderIssues(candidates)];
  const rowValid: CandidateBar[] = [];
  for (const bar of candidates) {
    const problem = rowIssue(bar, today);
    if (problem) issues.push(problem);
    else rowValid.push(bar);
  }
  const { unique: distinct, issues: duplicateIssues } = splitDuplicates(rowValid);
  issues.push(...duplicateIssues);
  // A row rejected on its own (a broken number, a negative volume) is still a second copy of its
  // symbol and date, with other values: the copy that passed is not known to be the right one.
  const rejectedCopies = new Map<string, QualityIssue>();
  for (const i of issues) if (i.severity === 'reject' && i.symbol !== null && i.date !== null && i.rule !== 'duplicate_date') rejectedCopies.set(`${i.symbol}\u0000${i.date}`, i);
  const unique: CandidateBar[] = [];
  for (const bar of distinct) {
    const other = rejectedCopies.get(`${bar.symbol}\u0000${bar.date}`);
    if (!other) unique.push(bar);
    else issues.push(issue('duplicate_date', { symbol: bar.symbol, date: bar.date, source: bar.source, line: bar.line, raw: bar.raw, message: `another row for ${bar.symbol} ${bar.date}${other.line !== null ? ` (line ${other.line})` : ''} has other values and was rejected (${other.rule}); which copy is right is unknown, so this one is rejected too` }));
  }

  const bySymbol = groupBy(unique, (bar) => bar.symbol);
  const accepted: Bar[] = [];
  for (const [, series] of [...bySymbol].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    series.sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : 0));
    issues.push(...seriesIssues(series, policy));
    for (const { symbol, date, open, high, low, close, volume } of series) accepted.push({ symbol, date, open, high, low, close, volume });
  }
  return { accepted, issues, report: summarise(accepted, issues, rowsRead, policy) };
}

function summarise(accepted: readonly Bar[], issues: readonly QualityIssue[], rowsRead: number, policy: QualityPolicy): QualityReport {
  const bySymbol: Record<string, SymbolQuality> = {};
  const entry = (symbol: string): SymbolQuality =>
    (bySymbol[symbol] ??= { rowsAccepted: 0, rowsRejected: 0, flags: 0, firstDate: null, lastDate: null });
  for (const bar of accepted) {
    const s = entry(bar.symbol);
    s.rowsAccepted++;
    if (s.firstDate === null || bar.date < s.firstDate) s.firstDate = bar.date;
    if (s.lastDate === null || bar.date > s.lastDate) s.lastDate = bar.date;
  }
  const byRule: Partial<Record<QualityRuleId, number>> = {};
  let rowsRejected = 0;
  let flags = 0;
  for (const i of issues) {
    byRule[i.rule] = (byRule[i.rule] ?? 0) + 1;
    // File-level rejections (empty file, bad header) reject no row of their own.
    const rejectsRow = i.severity === 'reject' && !FILE_LEVEL_RULES.has(i.rule);
    if (rejectsRow) rowsRejected++;
    if (i.severity === 'flag') flags++;
    if (i.symbol !== null) {
      if (rejectsRow) entry(i.symbol).rowsRejected++;
      if (i.severity === 'flag') entry(i.symbol).flags++;
    }
  }
  return {
    policy,
    rowsRead,
    rowsAccepted: accepted.length,
    rowsRejected,
    flags,
    badRowShare: rowsRead === 0 ? 0 : rowsRejected / rowsRead,
    byRule,
    bySymbol,
  };
}

export interface GateVerdict {
  passed: boolean;
  reasons: string[];
}

/** The gate: a run fails when nothing usable was read or too many rows were rejected. */
export function evaluateQualityGate(report: QualityReport): GateVerdict {
  const reasons: string[] = [];
  // Only rules that reject rows explain a rejection; flags (gaps, moves, …) reject nothing.
  const top = Object.entries(report.byRule)
    .filter(([rule]) => QUALITY_RULES[rule as QualityRuleId]?.severity !== 'flag')
    .sort(([, a], [, b]) => (b ?? 0) - (a ?? 0))
    .slice(0, 3)
    .map(([rule, n]) => `${rule}: ${n}`)
    .join(', ');
  if (report.rowsAccepted === 0) reasons.push(`no usable rows (${report.rowsRead} read, ${report.rowsRejected} rejected${top ? `; most frequent: ${top}` : ''})`);
  if (report.badRowShare > report.policy.maxBadRowShare) {
    reasons.push(
      `${(report.badRowShare * 100).toFixed(2)}% of rows rejected (${report.rowsRejected} of ${report.rowsRead}), above the limit of ${(report.policy.maxBadRowShare * 100).toFixed(2)}%; most frequent: ${top}`,
    );
  }
  return { passed: reasons.length === 0, reasons };
}
