/**
 * Every data-quality rule, its severity and what it means. `reject` keeps the row out of the bar
 * store (it goes to quarantine); `flag` stores the row and records the finding as evidence.
 */
export const QUALITY_RULES = {
  empty_input: { severity: 'reject', meaning: 'file is empty or holds only a header' },
  bad_header: { severity: 'reject', meaning: 'header lacks a required column' },
  column_count: { severity: 'reject', meaning: 'row has a different number of fields than the header' },
  missing_field: { severity: 'reject', meaning: 'a required field is empty, null or NaN' },
  non_numeric: { severity: 'reject', meaning: 'a numeric field holds text' },
  implausible_value: { severity: 'reject', meaning: 'a number beyond any real price or volume' },
  invalid_date: { severity: 'reject', meaning: 'date is not a real YYYY-MM-DD (or M/D/YYYY) date' },
  non_trading_day: { severity: 'reject', meaning: 'bar dated on a weekend or NYSE holiday' },
  missing_symbol: { severity: 'reject', meaning: 'no symbol column value and none from the file name' },
  non_positive_price: { severity: 'reject', meaning: 'open, high, low or close <= 0' },
  ohlc_inconsistent: { severity: 'reject', meaning: 'high < max(open, close) or low > min(open, close)' },
  negative_volume: { severity: 'reject', meaning: 'volume < 0' },
  duplicate_date: { severity: 'reject', meaning: 'a second row for the same symbol and date' },
  unsorted_input: { severity: 'flag', meaning: 'rows neither ascending nor descending by date (sorted on import)' },
  calendar_gap: { severity: 'flag', meaning: 'NYSE trading days missing inside the series' },
  extreme_move: { severity: 'flag', meaning: 'one-day close move beyond the limit, possibly an unadjusted split' },
  stale_close: { severity: 'flag', meaning: 'close unchanged over many consecutive days' },
  short_series: { severity: 'flag', meaning: 'fewer bars than the feature look-back needs' },
} as const satisfies Record<string, { severity: 'reject' | 'flag'; meaning: string }>;

export type QualityRuleId = keyof typeof QUALITY_RULES;
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
