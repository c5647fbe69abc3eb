/**
 * Every data-quality rule, its severity and what it means. `reject` keeps the row out of the bar
 * store (it goes to quarantine); `flag` stores the row and records the finding as evidence.
 */
export const QUALITY_RULES = {
  empty_input: { severity: 'reject', meaning: 'file is empty, holds only blank lines or only a header' },
  bad_header: { severity: 'reject', meaning: 'header lacks a required column, has two columns for one field (Name,name), uses another separator or is no header at all' },
  bad_encoding: { severity: 'reject', meaning: 'file is not UTF-8 text (binary, UTF-16 without a byte-order mark, Latin-1)' },
  ambiguous_date_order: { severity: 'reject', meaning: 'slash dates of one file in both orders: a row valid only as D/M/YYYY and another valid only as M/D/YYYY' },
  column_count: { severity: 'reject', meaning: 'row has a different number of fields than the header' },
  repeated_header: { severity: 'reject', meaning: "a line among the rows that repeats the header with the same columns in the same order (exports concatenated); a second header laying the columns out otherwise fails the import as bad_header" },
  line_too_long: { severity: 'reject', meaning: 'row longer than the reader accepts (no daily bar needs that many characters)' },
  field_too_long: { severity: 'reject', meaning: 'one field longer than the reader accepts' },
  bad_quoting: { severity: 'reject', meaning: 'a quoted field is never closed, or text follows its closing quote ("199.31"9)' },
  truncated_row: { severity: 'reject', meaning: "the file's last row, when the file ends without a line break and that row's last field is shorter than in every other row, or an eighth or less of its symbol's recent rows' median and shorter (not on an early close), or its last field is the start of the stored value it would replace: a file cut off part way through it" },
  invalid_symbol: { severity: 'reject', meaning: 'symbol does not match the symbol rule (lib/market-data/symbols.ts)' },
  missing_field: { severity: 'reject', meaning: 'a required field is empty, null or NaN' },
  non_numeric: { severity: 'reject', meaning: 'a numeric field holds text' },
  implausible_value: { severity: 'reject', meaning: 'a price beyond 1e7 or positive below 1e-6, a volume beyond 1e14, or a value that is not finite, as read or after --adjust' },
  imprecise_volume: { severity: 'reject', meaning: "a volume written in exponent notation with fewer significant digits than it has digits to the units (1.82E+06 for 1,824,755 shares: a spreadsheet's scientific format rounded it); a stored bar of the date is kept" },
  imprecise_price: { severity: 'reject', meaning: "a price written in exponent notation whose last digit stands for more than the cent it is quoted to (0.0001 under 1), or than the file's other prices are written to (1.54E+02 for 153.85: a spreadsheet's scientific format rounded it); a stored bar of the date is kept" },
  invalid_date: { severity: 'reject', meaning: "date is not a real YYYY-MM-DD (or YYYYMMDD, or slash) date, or a time after it is not a real time of day, or carries a UTC offset or a UTC time (Z) other than midnight (00:00Z, the date's label); slash dates are M/D/YYYY unless a row of the file is valid only as D/M/YYYY (day above 12 first), then the file's are D/M/YYYY" },
  future_date: { severity: 'reject', meaning: "bar dated after the import's (or the live batch's) clock (New York date); live: a stream entry id more than 5 minutes ahead of that clock, or an event_time more than 5 minutes after its entry (a host clock error)" },
  session_not_closed: { severity: 'reject', meaning: "bar dated on the import's own New York trading day, read before that day's NYSE close (early closes included) plus a margin: an unfinished bar" },
  mid_session_time: { severity: 'reject', meaning: 'date stamped with a time of day inside its own NYSE session (after the 09:30 open, before the close; New York time): a bar taken before the close, unfinished; or after midnight and before the open of the date: no bar of that session' },
  non_trading_day: { severity: 'reject', meaning: 'bar dated on a weekend or NYSE holiday' },
  missing_symbol: { severity: 'reject', meaning: 'no symbol column value and none from the file name' },
  non_positive_price: { severity: 'reject', meaning: 'open, high, low or close <= 0' },
  ohlc_inconsistent: { severity: 'reject', meaning: 'high < max(open, close) or low > min(open, close)' },
  volume_glitch: {
    severity: 'reject',
    meaning: "a row's volume 200 times the level of the ten sessions on each side (file rows and stored bars), or 100 times below it where it would replace a stored volume that fits the level: a misplaced decimal point or another unit (judged when the snapshot is judged)",
  },
  price_field_glitch: { severity: 'reject', meaning: "open, high or low beyond 8 times (or below an eighth of) the bar's own close: a misplaced decimal point or a wrong price that keeps the bar OHLC-consistent" },
  negative_volume: { severity: 'reject', meaning: 'volume < 0' },
  duplicate_date: { severity: 'reject', meaning: 'a second row for the same symbol and date' },
  out_of_order_date: {
    severity: 'reject',
    meaning:
      "a row of a file otherwise in date order (ascending or descending) whose date lies out of that order and more than 5 NYSE sessions from the rows before and after it (one row, or two adjacent), where a session is missing (a row moved or repeated elsewhere leaves none), or at an end of the file whose date another row has with other values, or a lone first or last row of a file in order more than 5 sessions from the next row with stored bars of its symbol between them (more than 20 with none), or one or two rows of any file, or live bars, more than 20 sessions from the others and judged with the stored series (more than 20 sessions from every stored bar with stored bars after them, or revising a stored bar more than 5 sessions before the newest with a recent session's prices): a mistyped date (2016-06-14 for 2017-06-14); its date is not believed, so it neither revises nor reports the stored bar of that date, nor conflicts with the row that has it; a shuffled file, sorted blocks, rows swapped with a neighbouring session, rows moved and the newest rows appended to either end keep unsorted_input",
  },
  file_bad_row_share: { severity: 'reject', meaning: "a file's rows for one symbol rejected above the per-file limit (maxFileBadRowShare, default 20%): the file is rejected whole and the import fails" },
  file_rejected: { severity: 'reject', meaning: 'a row that passed, of a file rejected whole (file_bad_row_share) or of a series rejected whole (next_session_leak, lagged_duplicate, misdated_series, price_basis_splice, series_mismatch, series_splice, price_unit_change, bar_interval, sparse_series, volume_basis_splice): not trusted, not stored' },
  next_session_leak: {
    severity: 'reject',
    meaning: "a symbol's bars carry the next session's prices (the next bar inside the bar's range, sharing its high or low, far more often than the series' own two-bar control allows): the series is rejected whole and the import fails",
  },
  series_splice: {
    severity: 'reject',
    meaning:
      "a symbol's close moves beyond the move limit, by no split ratio, keeps the new level over the next 20 bars, and that day's volume is no spike (under 1.5 times the next 20 bars' median): two securities, or two price units (cents after dollars), spliced into one series, in a file or where a file meets the stored bars; the series is rejected whole and the import fails",
  },
  price_unit_change: {
    severity: 'reject',
    meaning:
      "a symbol's open, high, low and close all step by a power of ten (×10^k, k ≠ 0, within ×/÷1.25 of 10^k times the close before), from bars on the old level, with no split of that power declared on that day by the file's split column, while its volume did not move towards the inverse (the median from the step on not within ×/÷√10 of 10^-k times the median of the 10 sessions before, from the side of no change: no split; a ×/÷10 step on a session of 20 times the volume before is news, kept), in a file or where a file meets the stored bars, however few rows follow (a file's last row, a one-row daily update): prices in cents after dollars (or the other way, or a misplaced decimal point), not trading; without volumes only ×/÷100 or more (a ×10 step without volume stays ambiguous, flagged extreme_move); the series is rejected whole and the import fails",
  },
  volume_basis_splice: {
    severity: 'reject',
    meaning:
      "a symbol's rows revise the stored volumes they share by a common factor of 10 or more (volumes in thousands or lots where the stored ones are in shares, or the other way round; on 1-4 shared sessions, every one of them), or of 1.5 or more on which 80% of 5 or more shared sessions agree within 3% (another volume definition), and stored bars the file does not revise would keep the old units; or, with no shared session to read a factor from, volumes stepping by ×60 or more (after 40 sessions) or ÷30 or less in their 20-session medians where the file's rows meet the stored bars or within the file (÷50 for an update of one or two rows) (judged when the snapshot is judged); the series is rejected whole and the import fails; live bars are judged by the same rule, the bars up to the last shared session (or from the step on) rejected and the stored bars kept",
  },
  bar_interval: {
    severity: 'reject',
    meaning: "a symbol's bars (5 or more) lie a median of 3 or more NYSE sessions apart: weekly or monthly bars, not daily ones; the series is rejected whole and the import fails",
  },
  sparse_series: {
    severity: 'reject',
    meaning: "a symbol's file skips NYSE sessions in more than 4 separate runs (maxSessionGaps) within 60 sessions, rows it holds but rejected not counted as missing: its labels would be a selection (only rows whose horizons missed every dropped session are labelled); the series is rejected whole and the import fails",
  },
  lagged_duplicate: {
    severity: 'reject',
    meaning:
      "a symbol's series is another symbol's (in the snapshot or stored) shifted by 1 to 5 sessions: its bar of session t is the other's bar of t+k (OHLC equal within rounding on 95% of 60 or more common sessions, or daily returns correlating 0.99 or more), e.g. another stock's bars of the next session; or, for a series with fewer than 60 sessions in the snapshot, at any lag of −5..5 sessions including 0, equal to them close to the cent and volume to the share on 5 or more of its sessions, or on one bar of the same session equal in open, high, low and close to the cent and volume to the share (5 such sessions without volumes) (the same bars under a second symbol), and for a longer one the same sessions' OHLC within rounding with volume equal to the share on 95% of 60 or more common sessions; judged when the snapshot is judged; the series is rejected whole and the import fails",
  },
  misdated_series: {
    severity: 'reject',
    meaning:
      "a series' daily returns (of any kind but another market's, by its declared kind or else its symbol: equity, ETF, index, volatility index, synthetic, future, currency) move with or against the other US equities' mean return of another session (1 to 5 away) more strongly than with or against their own session's, or with the mean of one of two groups of US equities dated a session apart: its bars are dated sessions late or early (gap between the two correlations' strengths of 5/√sessions or more on 60 or more sessions, at least 0.1 either way with the other session; a short update on its stored bars too); or a row repeats the stored bar of the session before or after its date in close and volume, or 3 or more rows (90% of those that meet such a bar) repeat it in open, high, low and close with volumes of their own (a file dated a session off where it meets the store, from the same or another vendor); or, a US equity on its own over 250 or more sessions of the snapshot, its overnight gaps undo its sessions' moves (rank correlation −0.45 or less: closes of the next session filed under each date, every symbol shifted alike); judged when the snapshot is judged; the series is rejected whole and the import fails",
  },
  one_bar_glitch: {
    severity: 'reject',
    meaning:
      "a row (or two adjacent rows) whose close is beyond the move limit (extremeMoveLimit, at least 25%, on the log scale) from both the bar before and the bar after, which agree within 10%: a glitch the next bar undoes (a misplaced decimal point, a price of 0.000001), not a move; or, with 40 or more returns before it, beyond max(10%, 8 times the symbol's robust daily volatility of the 60 sessions before, or of the last 10 where it moved far more of late) from both, which agree within 4 of those deviations a session (at most 10%), neither the rows nor the bar after trading 3 times the median volume of the 20 sessions before (a typo ×1.3 of a large-cap; 7 rows of the 382 real S&P 500 files, each a vendor glitch); or a block of 3 to 30 rows each beyond ×/÷1.5 (or the move limit when higher) from both (rows in cents, another security's rows under the symbol); not a move of one or two rows within ×/÷3 that traded 3 times the symbol's median volume of the 20 sessions before and was undone on 1.5 times (a real move reversed: kept and flagged extreme_move); neighbours are the file's rows, or the stored bars around a file's first or last row when the snapshot is judged; a stored bar (one or two, or a block) that new rows or live bars beside it reveal to be such a glitch (stored as the newest bar, with nothing after it) is retracted: removed from the stored bars with the new bar, logged in bar_revisions without new values and quarantined with its values, unless the move into it is a split as of its day; with adjust, a symbol's newest row whose Adj Close / Close steps from the row before's by a split ratio while its Close does not move by the inverse (the Adj Close alone steps, and no later row can show the step persisting)",
  },
  volume_vanished: {
    severity: 'reject',
    meaning: 'a row that would revise a stored bar with a positive volume to a volume of 0 (judged against the store when the snapshot is judged): a file without volumes does not erase them; the stored bar is kept',
  },
  price_basis_splice: {
    severity: 'reject',
    meaning:
      "a symbol's rows revise the stored bars they share by a common factor (another price basis: split- or dividend-adjusted where the stored bars are not, or the other way round, or other units), and stored bars the file does not revise would stay on the old basis beside them, a jump that never traded (judged when the snapshot is judged); the series is rejected whole and the import fails; live bars are judged by the same rule on 5 shared sessions or more (a day's restatement and a split day's corrected bar are ordinary there), the bars up to the last shared session rejected and the stored bars kept",
  },
  series_mismatch: {
    severity: 'reject',
    meaning:
      "a symbol's rows revise its stored bars without moving with them: from one shared session to the next the ratio of the file's close to the stored close changes (beyond 0.2% and rounding) on more than half of 10 or more pairs in any 20 consecutive shared sessions (not only at either end), or of all the pairs of a shorter overlap whose every shared close is beyond ×/÷1.25 from the stored one, where one security's closes keep one ratio on any price basis but at dividends and splits: another security's prices under the symbol, or bars dated on other sessions (judged when the snapshot is judged); the series is rejected whole and the import fails",
  },
  unsorted_input: { severity: 'flag', meaning: 'rows neither ascending nor descending by date (sorted on import)' },
  symbol_not_file_name: {
    severity: 'flag',
    meaning: "a file named after one symbol (MSFT.csv) whose symbol column names another (IBM) on every row: the column wins, so one security's bars may be stored as another's; the import is refused when the name's symbol is one the store or the import holds",
  },
  ambiguous_adjustment: {
    severity: 'flag',
    meaning:
      "with adjust, Adj Close / Close stepping between two rows by a split's ratio (within 3%) that the file does not settle: a small split's ratio (5:4, 4:3 or their reverses) nothing in it decides, read as no split (a 20-25% special dividend steps the factor alike); a larger ratio nothing decides while the volume as written did not move with it, read as the split (a spin-off steps it alike); a split column stating another split; or an adjusted volume reading it against the split column, which is followed. Flagged on the newer row, naming both readings and the volumes either gives",
  },
  calendar_gap: { severity: 'flag', meaning: "NYSE trading days missing inside the series, or more than 20 sessions between an import's rows and the stored bars" },
  extreme_move: { severity: 'flag', meaning: "one-day close move beyond the limit, or beyond max(10%, 8 times the symbol's robust daily volatility of the 60 sessions before, or of the last 10 where it moved far more of late), possibly an unadjusted split" },
  unadjusted_split: { severity: 'flag', meaning: 'overnight move by a split ratio (2:1, 3:2, 4:3, 5:4, 1:2, …) with the volume moving by its inverse, whatever its size: an unadjusted split' },
  stale_close: { severity: 'flag', meaning: 'close unchanged over many consecutive days' },
  zero_volume: {
    severity: 'flag',
    meaning: "an equity's or ETF's rows in the snapshot have volume 0 throughout, or on 5 or more consecutive bars after a positive one (judged when the snapshot is judged, with the declared instrument kinds); indices and other series without volume are not checked",
  },
  duplicate_series: {
    severity: 'flag',
    meaning: "a symbol's series is the same sessions' bars as another symbol's (in the snapshot or stored): OHLC equal within rounding on 95% of 60 or more common sessions, or daily returns correlating 0.95 or more; share classes and ETFs tracking one index are legitimately this close (judged when the snapshot is judged)",
  },
  price_basis_change: {
    severity: 'flag',
    meaning: "a symbol's rows revise the stored bars they share by a common factor beyond 10% (another price basis: a split, a reverse split, other units) and no stored bar is left on the old basis beside them (the whole stored history moves to the file's basis); judged when the snapshot is judged",
  },
  short_series: { severity: 'flag', meaning: 'fewer bars than the feature look-back needs' },
} as const satisfies Record<string, { severity: 'reject' | 'flag'; meaning: string }>;

export type QualityRuleId = keyof typeof QUALITY_RULES;

/** Rules about a whole file (or a symbol's whole series): its finding rejects the file or series, not a counted row. */
export const FILE_LEVEL_RULES: ReadonlySet<QualityRuleId> = new Set<QualityRuleId>(['empty_input', 'bad_header', 'bad_encoding', 'ambiguous_date_order', 'file_bad_row_share', 'next_session_leak', 'lagged_duplicate', 'misdated_series', 'price_basis_splice', 'series_mismatch', 'series_splice', 'price_unit_change', 'bar_interval', 'sparse_series', 'volume_basis_splice']);
/** Rules whose finding rejects a symbol's whole series (its rows become file_rejected) and fails the import. */
export const SERIES_LEVEL_RULES: ReadonlySet<QualityRuleId> = new Set<QualityRuleId>(['next_session_leak', 'lagged_duplicate', 'misdated_series', 'price_basis_splice', 'series_mismatch', 'series_splice', 'price_unit_change', 'bar_interval', 'sparse_series', 'volume_basis_splice']);
export type Severity = 'reject' | 'flag';

/** One finding: a rejected row or a flagged row/series, with where it came from. */
export interface QualityIssue {
  rule: QualityRuleId;
  severity: Severity;
  symbol: string | null;
  date: string | null;
  source: string;
  line: number | null;
  message: string;
  raw: string | null;
}

export function issue(rule: QualityRuleId, fields: Omit<QualityIssue, 'rule' | 'severity'>): QualityIssue {
  return { rule, severity: QUALITY_RULES[rule].severity, ...fields };
}
