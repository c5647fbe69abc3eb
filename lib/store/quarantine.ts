import { createHash } from 'node:crypto';
import type { QualityIssue, QualityRuleId } from '../quality/rules-catalog';
import type { Database } from './database';

const ROWS_PER_STATEMENT = 500;

function issueKey(snapshotId: string, i: QualityIssue): string {
  return createHash('sha1')
    .update([snapshotId, i.source, i.line ?? '', i.rule, i.symbol ?? '', i.date ?? '', i.message].join('\u0000'))
    .digest('hex');
}

/** Stores every finding of an import; storing the same findings again changes nothing. */
export async function saveQuarantine(store: Database, snapshotId: string, issues: readonly QualityIssue[]): Promise<void> {
  await store.db.transaction().execute(async (tx) => {
    for (let i = 0; i < issues.length; i += ROWS_PER_STATEMENT) {
      const rows = issues.slice(i, i + ROWS_PER_STATEMENT).map((q) => ({
        issue_key: issueKey(snapshotId, q),
        snapshot_id: snapshotId,
        rule: q.rule,
        severity: q.severity,
        symbol: q.symbol,
        date: q.date,
        source: q.source.length > 512 ? `…${q.source.slice(-511)}` : q.source,
        line: q.line,
        message: q.message,
        raw: q.raw === null ? null : q.raw.slice(0, 2000),
      }));
      await tx.insertInto('quarantine').ignore().values(rows).execute();
    }
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
