import { isIsoDate } from '../calendar/dates';
import { groupBy } from '../group-by';
import type { Bar } from '../market-data/bar';
import type { CandidateBar } from '../market-data/csv-reader';
import { excerpt } from './excerpt';
import { fileBadRowShareLimit, MIN_FILE_REJECTED_ROWS, type QualityPolicy } from './policy';
import { oneBarGlitches, orderFindings, rowRules, seriesIssues, splitDuplicates } from './rules';
import { FILE_LEVEL_RULES, issue, QUALITY_RULES, SERIES_LEVEL_RULES, type QualityIssue, type QualityRuleId } from './rules-catalog';

export interface SymbolQuality {
  rowsAccepted: number;
  rowsRejected: number;
  flags: number;
  firstDate: string | null;
  lastDate: string | null;
  /** Files rejected whole for this symbol's rows (file_bad_row_share); present only when there are some. */
  rejectedFiles?: RejectedFile[];
  /** The symbol's series rejected whole by a series rule (next_session_leak, lagged_duplicate: SERIES_LEVEL_RULES); present only then. */
  rejectedSeries?: RejectedSeries;
  /** The file its accepted rows came from (the source of findings made when the snapshot is judged). */
  source?: string;
}

/** A symbol's series rejected whole: no bar of it is trusted, and the import fails. */
export interface RejectedSeries {
  source: string;
  rule: QualityRuleId;
  /** The finding's message. */
  reason: string;
}

/** A file rejected whole: its rows for `symbol` were rejected above the per-file limit. */
export interface RejectedFile {
  source: string;
  symbol: string;
  rowsRead: number;
  rowsRejected: number;
  /** The most frequent rules among those rejections, `rule: n`, most frequent first. */
  top: string;
  /** Line and rule of its first rejected row (null when no rejection has a line). */
  firstLine: number | null;
  firstRule: QualityRuleId;
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
  /**
   * Rows read but outside the request's scope (`symbols`, `from`, `to`): not in `rowsRead`, named
   * by the gate when nothing usable is left (the rows were there, only not asked for). Set by an
   * import when there are any.
   */
  rowsOutOfScope?: number;
  /**
   * Set by a provider import whose every answer held a price header and no rows for a range holding
   * no NYSE session closed when it was fetched (a weekend, a holiday, a session still open): why
   * each is empty. The gate passes such an import with no rows; any other import without a usable
   * row fails.
   */
  emptyRange?: string;
  /**
   * Set by a provider import with answers empty by right (a header and no rows for a range without
   * closed sessions, or "No data" for a range wholly after a declared delisting): why each is
   * empty, by symbol, whatever the import's other answers held.
   */
  emptyAnswers?: Record<string, string>;
  /**
   * What the rules run when the snapshot was judged (on the stored bars, lib/quality/stored-rules.ts,
   * and across series, lib/quality/duplicate-series.ts) found, already counted above
   * (applyStoredBarFindings); present only when they found something.
   */
  storedBarChecks?: {
    rowsRejected: number;
    flags: number;
    /**
     * The stored bars of the symbols these rules rejected rows of, as judged (storedBarsDigest): a
     * rejection that depends on them is judged again once they change (the wrong security's bars
     * removed by hand), not returned forever.
     */
    store?: { symbols: string[]; digest: string };
  };
  /**
   * Stored bars the snapshot's rows show to be one-bar glitches (stored when nothing came after
   * them; lib/quality/stored-rules.ts): the publish removes each, if still stored with these
   * values, logs it in bar_revisions with no new values and quarantines `finding`. Present only
   * when there are any.
   */
  retractedStoredBars?: Array<{ symbol: string; date: string; open: number; high: number; low: number; close: number; volume: number; finding: QualityIssue }>;
}

export interface QualityCheckResult {
  accepted: Bar[];
  issues: QualityIssue[];
  report: QualityReport;
}

export interface QualityCheckOptions {
  /**
   * The import's clock (default: the real clock). Bars dated after its New York date are
   * `future_date`; a bar dated on that date is `session_not_closed` until the day's NYSE close
   * (early closes included) plus the policy's sessionCloseMarginMinutes (default
   * SESSION_CLOSE_MARGIN_MINUTES) has passed.
   */
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
  const rowRule = rowRules((options.now ?? (() => new Date()))(), policy);
  const rowProblems = new Map<CandidateBar, QualityIssue>();
  for (const bar of candidates) {
    const problem = rowRule(bar);
    if (problem) rowProblems.set(bar, problem);
  }
  // A row whose date is a typo (out_of_order_date) is rejected before the duplicate check: its date
  // is not what the vendor meant, so it is no copy of the row that has that date.
  const order = orderFindings(candidates, new Set(rowProblems.keys()));
  const issues: QualityIssue[] = [...readIssues, ...order.issues, ...rowProblems.values()];
  const rowValid = candidates.filter((bar) => !rowProblems.has(bar) && !order.misdated.has(bar));
  const { unique: distinct, issues: duplicateIssues } = splitDuplicates(rowValid);
  issues.push(...duplicateIssues);
  // A row rejected on its own (a broken number, a negative volume) is still a second copy of its
  // symbol and date, with other values: the copy that passed is not known to be the right one.
  const rejectedCopies = new Map<string, QualityIssue>();
  for (const i of issues) if (i.severity === 'reject' && i.symbol !== null && i.date !== null && i.rule !== 'duplicate_date' && i.rule !== 'out_of_order_date') rejectedCopies.set(`${i.symbol}\u0000${i.date}`, i);
  const deduplicated: CandidateBar[] = [];
  for (const bar of distinct) {
    const other = rejectedCopies.get(`${bar.symbol}\u0000${bar.date}`);
    if (!other) deduplicated.push(bar);
    else issues.push(issue('duplicate_date', { symbol: bar.symbol, date: bar.date, source: bar.source, line: bar.line, raw: bar.raw, message: `another row for ${bar.symbol} ${bar.date}${other.line !== null ? ` (line ${other.line})` : ''} has other values and was rejected (${other.rule}); which copy is right is unknown, so this one is rejected too` }));
  }

  // A row the next bar undoes (one_bar_glitch) is a rejected row: it counts toward its file's share,
  // and the series rules below see the series without it.
  const glitched = new Set<string>();
  const reversals = new Set<string>();
  for (const rows of groupBy(deduplicated, (b) => b.symbol).values()) {
    for (const found of oneBarGlitches([...rows].sort(byDate), policy)) {
      issues.push(found);
      // A move kept for its volume is flagged (extreme_move) there, once.
      if (found.severity === 'reject') glitched.add(`${found.symbol}\u0000${found.date}`);
      else reversals.add(`${found.symbol}\u0000${found.date}`);
    }
  }
  const unglitched = glitched.size === 0 ? deduplicated : deduplicated.filter((b) => !glitched.has(`${b.symbol}\u0000${b.date}`));

  // A file whose rows for a symbol were rejected above the per-file limit is rejected whole.
  const rejectedFiles = filesOverLimit(candidates, readIssues, issues, fileBadRowShareLimit(policy));
  const unique: CandidateBar[] = [];
  for (const bar of unglitched) {
    const file = rejectedFiles.get(bar.source);
    if (!file) unique.push(bar);
    else issues.push(issue('file_rejected', { symbol: bar.symbol, date: bar.date, source: bar.source, line: bar.line, raw: bar.raw, message: `this row passed, but its file is rejected whole: ${fileCause(file, fileBadRowShareLimit(policy))}, so none of its rows is trusted` }));
  }
  for (const file of rejectedFiles.values()) {
    issues.push(issue('file_bad_row_share', { symbol: file.symbol, date: null, source: file.source, line: file.firstLine, raw: null, message: `file rejected whole: ${fileCause(file, fileBadRowShareLimit(policy))}; its rows that passed are not trusted either, and the import fails` }));
  }

  // Sessions whose rows were read but rejected are not missing from a file (sparse_series).
  // A rejected row whose date could not be read may be any session: each excuses one run.
  const rejectedDates = new Map<string, Set<string>>();
  const undated = new Map<string, number>();
  for (const i of issues) {
    if (i.severity !== 'reject' || i.symbol === null) continue;
    // A mistyped date (out_of_order_date) stands for an unknown session, as an unreadable one does.
    if (i.date === null || !isIsoDate(i.date) || i.rule === 'out_of_order_date') {
      if (i.line !== null) undated.set(i.symbol, (undated.get(i.symbol) ?? 0) + 1);
      continue;
    }
    let dates = rejectedDates.get(i.symbol);
    if (!dates) rejectedDates.set(i.symbol, (dates = new Set()));
    dates.add(i.date);
  }
  const bySymbol = groupBy(unique, (bar) => bar.symbol);
  const accepted: Bar[] = [];
  const rejectedSeries = new Map<string, RejectedSeries>();
  const sources = new Map<string, string>();
  for (const [symbol, series] of [...bySymbol].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    series.sort(byDate);
    const found = seriesIssues(series, policy, rejectedDates.get(symbol), undated.get(symbol)).filter((i) => i.rule !== 'extreme_move' || !reversals.has(`${i.symbol}\u0000${i.date}`));
    issues.push(...found);
    // Bars carrying the next session's prices, two securities spliced, weekly bars: which bars are
    // wrong is unknown, so none is trusted (as a file rejected whole).
    const whole = found.find((i) => SERIES_LEVEL_RULES.has(i.rule));
    if (whole) {
      rejectedSeries.set(symbol, { source: whole.source, rule: whole.rule, reason: whole.message });
      for (const b of series) issues.push(issue('file_rejected', { symbol, date: b.date, source: b.source, line: b.line, raw: b.raw, message: `this row passed, but its series is rejected whole (${whole.rule}): ${whole.message}` }));
      continue;
    }
    for (const { date, open, high, low, close, volume } of series) accepted.push({ symbol, date, open, high, low, close, volume });
    if (series.length > 0) sources.set(symbol, series[0].source);
  }
  const report = summarise(accepted, issues, rowsRead, policy);
  for (const [symbol, source] of sources) report.bySymbol[symbol].source = source;
  for (const file of rejectedFiles.values()) {
    const s = (report.bySymbol[file.symbol] ??= { rowsAccepted: 0, rowsRejected: 0, flags: 0, firstDate: null, lastDate: null });
    (s.rejectedFiles ??= []).push(file);
  }
  for (const [symbol, series] of rejectedSeries) (report.bySymbol[symbol] ??= { rowsAccepted: 0, rowsRejected: 0, flags: 0, firstDate: null, lastDate: null }).rejectedSeries = series;
  return { accepted, issues, report };
}

const byDate = (a: { date: string }, b: { date: string }): number => (a.date < b.date ? -1 : a.date > b.date ? 1 : 0);

const percent = (share: number): string => `${(share * 100).toFixed(2)}%`;

/** `750 of its 1,259 rows for ZTS were rejected (59.57%), above the per-file limit of 20.00% (invalid_date: 750; first at line 14, invalid_date)`. */
function fileCause(file: RejectedFile, limit: number): string {
  const first = file.firstLine !== null ? `; first at line ${file.firstLine}, ${file.firstRule}` : '';
  return `${file.rowsRejected} of its ${file.rowsRead} rows for ${file.symbol} were rejected (${percent(file.rowsRejected / file.rowsRead)}), above the per-file limit of ${percent(limit)} (${file.top}${first})`;
}

/**
 * Files whose rows for one symbol were rejected at more than `limit` of those rows, and at least
 * MIN_FILE_REJECTED_ROWS of them, by source (the first such symbol of each file). A file's rows for
 * one symbol are its candidates plus the rows the reader rejected; a symbol's rows never span
 * chunks, so the verdict does not depend on how an import is chunked. Rows without a symbol count
 * toward the import's share only (the reader gives a one-symbol file's rows with an empty symbol
 * cell that symbol).
 */
function filesOverLimit(candidates: readonly CandidateBar[], readIssues: readonly QualityIssue[], issues: readonly QualityIssue[], limit: number): Map<string, RejectedFile> {
  const out = new Map<string, RejectedFile>();
  if (limit >= 1) return out;
  type Tally = { source: string; symbol: string; rows: number; rejected: number; byRule: Map<QualityRuleId, number>; first?: QualityIssue };
  const tallies = new Map<string, Tally>();
  const tally = (source: string, symbol: string): Tally => {
    const key = `${source}\u0000${symbol}`;
    let t = tallies.get(key);
    if (!t) tallies.set(key, (t = { source, symbol, rows: 0, rejected: 0, byRule: new Map() }));
    return t;
  };
  const rejectsRow = (i: QualityIssue): boolean => i.severity === 'reject' && !FILE_LEVEL_RULES.has(i.rule) && i.symbol !== null;
  for (const bar of candidates) tally(bar.source, bar.symbol).rows++;
  for (const i of readIssues) if (rejectsRow(i)) tally(i.source, i.symbol as string).rows++;
  for (const i of issues) {
    if (!rejectsRow(i)) continue;
    const t = tally(i.source, i.symbol as string);
    t.rejected++;
    t.byRule.set(i.rule, (t.byRule.get(i.rule) ?? 0) + 1);
    if (i.line !== null && (t.first === undefined || t.first.line === null || i.line < t.first.line)) t.first = i;
    else t.first ??= i;
  }
  for (const t of tallies.values()) {
    if (t.rejected < MIN_FILE_REJECTED_ROWS || t.rejected / t.rows <= limit || out.has(t.source)) continue;
    const top = [...t.byRule]
      .sort(([a, x], [b, y]) => y - x || (a < b ? -1 : 1))
      .slice(0, 3)
      .map(([rule, n]) => `${rule}: ${n}`)
      .join(', ');
    const first = t.first as QualityIssue;
    out.set(t.source, { source: t.source, symbol: t.symbol, rowsRead: t.rows, rowsRejected: t.rejected, top, firstLine: first.line, firstRule: first.rule });
  }
  return out;
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

/** One symbol's findings of the rules on the stored bars (storedBarIssues), with its staged bars. */
export interface SymbolStoredFindings {
  symbol: string;
  source: string;
  /** The symbol's staged (accepted) bars before the findings. */
  staged: ReadonlyArray<Pick<Bar, 'date'>>;
  issues: readonly QualityIssue[];
  /** Staged dates the findings reject. */
  rejected: ReadonlySet<string>;
  /**
   * The symbol's series rejected whole (lagged_duplicate): `rejected` then holds every staged date,
   * the findings a file_rejected for each not rejected by another rule, and the gate fails naming it.
   */
  rejectedSeries?: RejectedSeries;
}

export interface AppliedStoredFindings {
  report: QualityReport;
  /** Every finding to quarantine: the given ones, and file_rejected / file_bad_row_share when a file is rejected whole. */
  issues: QualityIssue[];
  /** Per symbol, the staged dates no longer accepted, each with the rule that took it out. */
  dropped: Map<string, Map<string, QualityRuleId>>;
}

/**
 * The snapshot's report with the findings of the rules run when it is judged (on the stored bars,
 * across series) counted in, as if the rows had been rejected (or flagged) when they were read: the
 * counts per rule and per symbol, the bad-row share, a series rejected whole (`rejectedSeries`), and
 * the per-file limit (a symbol's rows rejected above it, at least
 * MIN_FILE_REJECTED_ROWS of them, reject its file whole: its other staged rows are file_rejected and
 * the gate fails, as file_bad_row_share at staging). A symbol's rows in the snapshot are its rows
 * accepted and rejected when it was staged. Records `storedBarChecks`, so the snapshot is not
 * checked twice. Returns the report unchanged (and no marker) when nothing was found.
 */
export function applyStoredBarFindings(report: QualityReport, findings: readonly SymbolStoredFindings[]): AppliedStoredFindings {
  const dropped = new Map<string, Map<string, QualityRuleId>>();
  const issues: QualityIssue[] = [];
  if (findings.every((f) => f.issues.length === 0)) return { report, issues, dropped };
  const next: QualityReport = { ...report, byRule: { ...report.byRule }, bySymbol: { ...report.bySymbol } };
  const limit = fileBadRowShareLimit(report.policy);
  let rejectedRows = 0;
  let flagged = 0;
  const count = (i: QualityIssue): void => {
    issues.push(i);
    next.byRule[i.rule] = (next.byRule[i.rule] ?? 0) + 1;
  };
  for (const f of findings) {
    if (f.issues.length === 0) continue;
    const before = report.bySymbol?.[f.symbol] ?? { rowsAccepted: f.staged.length, rowsRejected: 0, flags: 0, firstDate: null, lastDate: null };
    const s: SymbolQuality = { ...before };
    const out = new Map<string, QualityRuleId>();
    for (const i of f.issues) {
      count(i);
      if (i.severity === 'flag') s.flags++;
      else if (i.date !== null && f.rejected.has(i.date)) out.set(i.date, i.rule);
    }
    const rows = before.rowsAccepted + before.rowsRejected;
    const rejected = before.rowsRejected + out.size;
    if (f.rejectedSeries) s.rejectedSeries = f.rejectedSeries;
    // A series rejected whole already fails the import, with its own reason: no file verdict on top.
    else if (out.size > 0 && !before.rejectedFiles && rejected >= MIN_FILE_REJECTED_ROWS && rows > 0 && rejected / rows > limit) {
      const byRule = new Map<QualityRuleId, number>();
      for (const rule of out.values()) byRule.set(rule, (byRule.get(rule) ?? 0) + 1);
      const top = [...byRule]
        .sort(([a, x], [b, y]) => y - x || (a < b ? -1 : 1))
        .map(([rule, n]) => `${rule}: ${n}`)
        .join(', ');
      const firstRule = out.get([...out.keys()].sort()[0]) as QualityRuleId;
      const file: RejectedFile = { source: f.source, symbol: f.symbol, rowsRead: rows, rowsRejected: rejected, top: before.rowsRejected > 0 ? `${top}; ${before.rowsRejected} rejected when read` : top, firstLine: null, firstRule };
      s.rejectedFiles = [file];
      for (const b of f.staged) {
        if (out.has(b.date)) continue;
        out.set(b.date, 'file_rejected');
        count(issue('file_rejected', { symbol: f.symbol, date: b.date, source: f.source, line: null, raw: null, message: `this row passed, but its file is rejected whole: ${fileCause(file, limit)}, so none of its rows is trusted` }));
      }
      count(issue('file_bad_row_share', { symbol: f.symbol, date: null, source: f.source, line: null, raw: null, message: `file rejected whole: ${fileCause(file, limit)}; its rows that passed are not trusted either, and the import fails` }));
    }
    const kept = f.staged.filter((b) => !out.has(b.date)).map((b) => b.date).sort();
    s.rowsAccepted = before.rowsAccepted - out.size;
    s.rowsRejected = before.rowsRejected + out.size;
    s.firstDate = kept[0] ?? null;
    s.lastDate = kept.at(-1) ?? null;
    next.bySymbol[f.symbol] = s;
    rejectedRows += out.size;
    flagged += f.issues.filter((i) => i.severity === 'flag').length;
    if (out.size > 0) dropped.set(f.symbol, out);
  }
  next.rowsAccepted = report.rowsAccepted - rejectedRows;
  next.rowsRejected = report.rowsRejected + rejectedRows;
  next.flags = report.flags + flagged;
  next.badRowShare = next.rowsRead === 0 ? 0 : next.rowsRejected / next.rowsRead;
  next.byRule = Object.fromEntries(Object.entries(next.byRule).sort(([a], [b]) => (a < b ? -1 : 1)));
  next.storedBarChecks = { rowsRejected: (report.storedBarChecks?.rowsRejected ?? 0) + rejectedRows, flags: (report.storedBarChecks?.flags ?? 0) + flagged };
  return { report: next, issues, dropped };
}

export interface GateVerdict {
  passed: boolean;
  reasons: string[];
}

/**
 * The gate: a run fails when nothing usable was read, too many rows were rejected, a file was
 * rejected whole (its rows for a symbol rejected above the per-file limit, file_bad_row_share), or a
 * symbol's series was (its bars carry the next session's prices, next_session_leak; they are another
 * symbol's shifted by sessions, lagged_duplicate).
 */
export function evaluateQualityGate(report: QualityReport): GateVerdict {
  const reasons: string[] = [];
  const filesRejected = report.byRule.file_bad_row_share ?? 0;
  if (filesRejected > 0) {
    const limit = fileBadRowShareLimit(report.policy);
    const named = Object.values(report.bySymbol)
      .flatMap((s) => s.rejectedFiles ?? [])
      .sort((a, b) => (a.source < b.source ? -1 : a.source > b.source ? 1 : 0));
    for (const file of named.slice(0, 5)) reasons.push(`file ${excerpt(file.source, 300)} rejected whole: ${fileCause(file, limit)}`);
    if (named.length > 5) reasons.push(`${named.length - 5} more files rejected whole (file_bad_row_share in quarantine names them)`);
    if (named.length === 0) reasons.push(`${filesRejected} file(s) rejected whole: rows for a symbol rejected above the per-file limit of ${percent(limit)} (file_bad_row_share in quarantine names them)`);
  }
  const seriesRejections = [...SERIES_LEVEL_RULES].reduce((n, rule) => n + (report.byRule[rule] ?? 0), 0);
  if (seriesRejections > 0) {
    const named = Object.entries(report.bySymbol)
      .filter(([, s]) => s.rejectedSeries !== undefined)
      .map(([symbol, s]) => ({ symbol, ...(s.rejectedSeries as RejectedSeries) }));
    const rules = [...SERIES_LEVEL_RULES].filter((rule) => (report.byRule[rule] ?? 0) > 0).join(', ');
    for (const s of named.slice(0, 5)) reasons.push(`series of ${s.symbol} from ${excerpt(s.source, 300)} rejected whole (${s.rule}): ${s.reason}`);
    if (named.length > 5) reasons.push(`${named.length - 5} more series rejected whole (${rules} in quarantine names them)`);
    if (named.length === 0) reasons.push(`${seriesRejections} series rejected whole (${rules} in quarantine names them)`);
  }
  // Only rules that reject rows explain a rejection; flags (gaps, moves, …) reject nothing.
  const top = Object.entries(report.byRule)
    // A file or series rejected whole has its own reason above; its rows that passed say nothing of the cause.
    .filter(([rule]) => QUALITY_RULES[rule as QualityRuleId]?.severity !== 'flag' && rule !== 'file_bad_row_share' && rule !== 'file_rejected' && !SERIES_LEVEL_RULES.has(rule as QualityRuleId))
    .sort(([, a], [, b]) => (b ?? 0) - (a ?? 0))
    .slice(0, 3)
    .map(([rule, n]) => `${rule}: ${n}`)
    .join(', ');
  if (report.rowsAccepted === 0 && !(report.rowsRead === 0 && report.emptyRange !== undefined)) {
    const outOfScope = report.rowsOutOfScope ?? 0;
    const scope = outOfScope > 0 ? `, ${outOfScope} more out of the request's scope (symbols, from, to): check the symbols and dates asked for against the files'` : '';
    reasons.push(`no usable rows (${report.rowsRead} read, ${report.rowsRejected} rejected${top ? `; most frequent: ${top}` : ''}${scope})`);
  }
  if (report.badRowShare > report.policy.maxBadRowShare) {
    reasons.push(
      // Rows of files or series rejected whole have their reason above (no "most frequent" to add).
      `${(report.badRowShare * 100).toFixed(2)}% of rows rejected (${report.rowsRejected} of ${report.rowsRead}), above the limit of ${(report.policy.maxBadRowShare * 100).toFixed(2)}%${top ? `; most frequent: ${top}` : ''}`,
    );
  }
  return { passed: reasons.length === 0, reasons };
}
