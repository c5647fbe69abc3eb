import { createHash } from 'node:crypto';
import { excerpt } from '../quality/excerpt';
import type { QualityIssue, QualityRuleId } from '../quality/rules-catalog';
import type { Database } from './database';

const ROWS_PER_STATEMENT = 500;

/**
 * What one finding may put in the store. The raw row is evidence, not data: a bounded, escaped
 * excerpt is enough to find the line in its file, and an unbounded one can exceed the server's
 * packet limit or carry terminal escapes to whoever lists the quarantine.
 */
export const QUARANTINE_RAW_CHARS = 200;
export const QUARANTINE_MESSAGE_CHARS = 1000;
const SOURCE_CHARS = 512; // quarantine.source is varchar(512)
const SYMBOL_CHARS = 32; // quarantine.symbol is varchar(32)
const DATE_PATTERN = /^\d{4}-\d{2}-\d{2}$/;

function issueKey(snapshotId: string, row: { source: string; line: number | null; rule: string; symbol: string | null; date: string | null; message: string }): string {
  return createHash('sha1')
    .update([snapshotId, row.source, row.line ?? '', row.rule, row.symbol ?? '', row.date ?? '', row.message].join('\u0000'))
    .digest('hex');
}

/** The end of a long path names the file, so that is the part kept. */
function boundedSource(source: string): string {
  const escaped = source.length > 4 * SOURCE_CHARS ? excerpt(source.slice(-SOURCE_CHARS), SOURCE_CHARS) : excerpt(source, 4 * SOURCE_CHARS);
  return escaped.length > SOURCE_CHARS ? `…${escaped.slice(-(SOURCE_CHARS - 1))}` : escaped;
}

/** A finding as it is stored: every text bounded and escaped, symbol and date only when well-formed. */
export function quarantineRow(snapshotId: string, q: QualityIssue) {
  const row = {
    snapshot_id: snapshotId,
    rule: q.rule,
    severity: q.severity,
    symbol: q.symbol !== null && q.symbol.length <= SYMBOL_CHARS && excerpt(q.symbol, SYMBOL_CHARS) === q.symbol ? q.symbol : null,
    date: q.date !== null && DATE_PATTERN.test(q.date) ? q.date : null,
    source: boundedSource(q.source),
    line: q.line,
    message: excerpt(q.message, QUARANTINE_MESSAGE_CHARS),
    raw: q.raw === null ? null : excerpt(q.raw, QUARANTINE_RAW_CHARS),
  };
  return { issue_key: issueKey(snapshotId, row), ...row };
}

/** Stores every finding of an import; storing the same findings again changes nothing. */
export async function saveQuarantine(store: Database, snapshotId: string, issues: readonly QualityIssue[]): Promise<void> {
  await store.db.transaction().execute(async (tx) => {
    for (let i = 0; i < issues.length; i += ROWS_PER_STATEMENT) {
      const rows = issues.slice(i, i + ROWS_PER_STATEMENT).map((q) => quarantineRow(snapshotId, q));
      await tx.insertInto('quarantine').ignore().values(rows).execute();
    }
  });
}

/**
 * Removes findings stored by saveQuarantine (the same snapshot id and findings): flags saved ahead
 * of a write for bars the write then did not store (the live path, lib/streaming/consumer.ts).
 */
export async function discardQuarantine(store: Database, snapshotId: string, issues: readonly QualityIssue[]): Promise<void> {
  const keys = [...new Set(issues.map((q) => quarantineRow(snapshotId, q).issue_key))];
  for (let i = 0; i < keys.length; i += ROWS_PER_STATEMENT) await store.db.deleteFrom('quarantine').where('issue_key', 'in', keys.slice(i, i + ROWS_PER_STATEMENT)).execute();
}

/** Removes a snapshot's findings of these rules, symbols, dates and messages, whatever their source. */
export async function discardQuarantineFindings(store: Database, snapshotId: string, findings: readonly QualityIssue[]): Promise<void> {
  if (findings.length === 0) return;
  // Out-of-order live delivery can clear thousands of calendar_gap rows at once, and one DELETE per
  // finding took 40 s for 11,139 of them on MariaDB (8 s on SQLite). So the snapshot's rows of these
  // rules and symbols are read through the (snapshot_id, rule) index, matched here, and deleted by key.
  const what = (r: { rule: string; symbol: string | null; date: string | null; message: string }) => JSON.stringify([r.rule, r.symbol, r.date, r.message]);
  const rows = findings.map((q) => quarantineRow(snapshotId, q));
  const wanted = new Set(rows.map(what));
  const rules = [...new Set(rows.map((r) => r.rule))];
  const symbols = [...new Set(rows.map((r) => r.symbol))];
  const named = symbols.filter((x): x is string => x !== null);
  await store.db.transaction().execute(async (tx) => {
    const candidates = tx.selectFrom('quarantine').select(['issue_key', 'rule', 'symbol', 'date', 'message']).where('snapshot_id', '=', snapshotId).where('rule', 'in', rules);
    const found = [];
    for (let i = 0; i < named.length; i += ROWS_PER_STATEMENT) found.push(...(await candidates.where('symbol', 'in', named.slice(i, i + ROWS_PER_STATEMENT)).execute()));
    if (named.length < symbols.length) found.push(...(await candidates.where('symbol', 'is', null).execute()));
    const keys = found.filter((r) => wanted.has(what(r))).map((r) => r.issue_key);
    for (let i = 0; i < keys.length; i += ROWS_PER_STATEMENT) await tx.deleteFrom('quarantine').where('issue_key', 'in', keys.slice(i, i + ROWS_PER_STATEMENT)).execute();
  });
}

export async function countQuarantineByRule(store: Database, snapshotId: string): Promise<Partial<Record<QualityRuleId, number>>> {
  const rows = await store.db
    .selectFrom('quarantine')
    .select(['rule', (eb) => eb.fn.countAll<number>().as('n')])
    .where('snapshot_id', '=', snapshotId)
    .groupBy('rule')
    .execute();
  return Object.fromEntries(rows.map((r) => [r.rule, Number(r.n)]));
}

export interface QuarantineQuery {
  snapshotId?: string;
  rule?: string;
  symbol?: string;
  limit?: number;
}

export async function listQuarantine(store: Database, q: QuarantineQuery = {}): Promise<QualityIssue[]> {
  let query = store.db.selectFrom('quarantine').selectAll();
  if (q.snapshotId) query = query.where('snapshot_id', '=', q.snapshotId);
  if (q.rule) query = query.where('rule', '=', q.rule);
  if (q.symbol) query = query.where('symbol', '=', q.symbol);
  const rows = await query.orderBy('source').orderBy('line').limit(q.limit ?? 100).execute();
  return rows.map((r) => ({
    rule: r.rule as QualityRuleId,
    severity: r.severity,
    symbol: r.symbol,
    date: r.date,
    source: r.source,
    line: r.line === null ? null : Number(r.line),
    message: r.message,
    raw: r.raw,
  }));
}
