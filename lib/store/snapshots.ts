import { delistingMapSchema, instrumentMapSchema, type DelistingMap, type InstrumentMap } from '../market-data/instruments';
import type { z } from 'zod';
import type { QualityReport } from '../quality/report';
import type { Database } from './database';
import type { DatasetSnapshotsTable } from './schema';

export type SnapshotStatus = DatasetSnapshotsTable['status'];

/** A dataset snapshot: what one import brought in, for lineage (later steps take its id). */
export interface DatasetSnapshot {
  id: string;
  contentHash: string;
  source: unknown;
  symbols: string[];
  firstDate: string | null;
  lastDate: string | null;
  rowsRead: number;
  rowCount: number;
  rejectedCount: number;
  flaggedCount: number;
  qualityReport: QualityReport;
  status: SnapshotStatus;
  statusReason: string | null;
  createdAt: string;
  /** When the snapshot's bars went into the published store, and how many it added and changed. */
  publishedAt: string | null;
  barsAdded: number | null;
  barsRevised: number | null;
}

/** Records a snapshot once; the same content imported again keeps the first record untouched. */
export async function saveSnapshot(store: Database, s: Omit<DatasetSnapshot, 'status' | 'statusReason' | 'createdAt' | 'publishedAt' | 'barsAdded' | 'barsRevised'>): Promise<void> {
  await store.db
    .insertInto('dataset_snapshots')
    .ignore()
    .values({
      id: s.id,
      content_hash: s.contentHash,
      source: JSON.stringify(s.source),
      symbols: JSON.stringify(s.symbols),
      symbol_count: s.symbols.length,
      first_date: s.firstDate,
      last_date: s.lastDate,
      rows_read: s.rowsRead,
      row_count: s.rowCount,
      rejected_count: s.rejectedCount,
      flagged_count: s.flaggedCount,
      quality_report: JSON.stringify(s.qualityReport),
      status: 'ingested',
      status_reason: null,
      created_at: new Date().toISOString(),
      attempt_token: null,
      published_at: null,
      bars_added: null,
      bars_revised: null,
    })
    .execute();
}

export async function setSnapshotStatus(store: Database, id: string, status: SnapshotStatus, reason: string | null): Promise<void> {
  await store.db.updateTable('dataset_snapshots').set({ status, status_reason: reason }).where('id', '=', id).execute();
}

function fromRow(r: DatasetSnapshotsTable): DatasetSnapshot {
  return {
    id: r.id,
    contentHash: r.content_hash,
    source: JSON.parse(r.source) as unknown,
    symbols: JSON.parse(r.symbols) as string[],
    firstDate: r.first_date,
    lastDate: r.last_date,
    rowsRead: Number(r.rows_read),
    rowCount: Number(r.row_count),
    rejectedCount: Number(r.rejected_count),
    flaggedCount: Number(r.flagged_count),
    qualityReport: JSON.parse(r.quality_report) as QualityReport,
    status: r.status,
    statusReason: r.status_reason,
    createdAt: r.created_at,
    publishedAt: r.published_at,
    barsAdded: r.bars_added === null ? null : Number(r.bars_added),
    barsRevised: r.bars_revised === null ? null : Number(r.bars_revised),
  };
}

export async function getSnapshot(store: Database, id: string): Promise<DatasetSnapshot | undefined> {
  const row = await store.db.selectFrom('dataset_snapshots').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? fromRow(row) : undefined;
}

export async function listSnapshots(store: Database, limit = 20): Promise<DatasetSnapshot[]> {
  const rows = await store.db.selectFrom('dataset_snapshots').selectAll().orderBy('created_at', 'desc').limit(limit).execute();
  return rows.map(fromRow);
}

/**
 * Delistings declared by the import requests of published snapshots (`delisted`, recorded with the
 * snapshot's source), oldest first so a later declaration wins: a symbol's last session is a
 * property of the series, so every later import of it takes the declaration.
 */
export async function declaredDelistings(store: Database): Promise<DelistingMap> {
  return mergedDeclarations(store, 'delisted', delistingMapSchema);
}

/**
 * One field of the import requests of published snapshots, each declaration as its schema reads it
 * (one that does not is skipped), merged oldest first so a later declaration of a symbol wins.
 */
async function mergedDeclarations<T extends Record<string, unknown>>(store: Database, field: 'delisted' | 'instruments', schema: z.ZodType<T>): Promise<T> {
  const rows = await store.db
    .selectFrom('dataset_snapshots')
    .select(['source'])
    .where('status', '=', 'published')
    .where('source', 'like', `%"${field}"%`)
    .orderBy('published_at')
    .orderBy('created_at')
    .orderBy('id')
    .execute();
  const merged: Record<string, unknown> = {};
  for (const row of rows) {
    const parsed = schema.safeParse((JSON.parse(row.source) as Record<string, unknown> | null)?.[field]);
    if (parsed.success) Object.assign(merged, parsed.data);
  }
  return merged as T;
}

/**
 * Of these provider answers (the sha256 of each body), those whose newest judged snapshot
 * (`providerAnswers` in its source, lib/ingest/import-bars.ts) was rejected: such an answer is not
 * reused from the cache. One also in a later published snapshot is (its content passed there).
 */
export async function providerAnswersRejected(store: Database, sha256s: readonly string[]): Promise<Set<string>> {
  const wanted = new Set(sha256s);
  const rows = await store.db
    .selectFrom('dataset_snapshots')
    .select(['status', 'source'])
    .where('source', 'like', '%"providerAnswers"%')
    .where('status', 'in', ['published', 'rejected', 'failed'])
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .execute();
  const decided = new Set<string>();
  const rejected = new Set<string>();
  for (const row of rows) {
    const answers = (JSON.parse(row.source) as { providerAnswers?: unknown } | null)?.providerAnswers;
    if (!answers || typeof answers !== 'object') continue;
    for (const sha256 of Object.values(answers as Record<string, unknown>)) {
      if (typeof sha256 !== 'string' || !wanted.has(sha256) || decided.has(sha256)) continue;
      decided.add(sha256);
      if (row.status !== 'published') rejected.add(sha256);
    }
    if (decided.size === wanted.size) break;
  }
  return rejected;
}

/**
 * Instrument kinds declared by the import requests of published snapshots (`instruments` in the
 * request, recorded with the snapshot's source), oldest first so a later declaration wins. Kinds are
 * a property of the series, so features over the whole store use every declaration, not only the
 * one of the import that triggered the run.
 */
export async function declaredInstruments(store: Database): Promise<InstrumentMap> {
  return mergedDeclarations(store, 'instruments', instrumentMapSchema);
}

/** Rows per statement of content clock writes and reads (well under both drivers' parameter limits). */
const CLOCK_ROWS_PER_STATEMENT = 500;
const CLOCK_SOURCE_CHARS = 512; // content_clocks.source is varchar(512)

/**
 * Records that each content (sha256 of a file's text) existed at `seenAt`: a content not seen before
 * gets `seenAt`, one seen later is lowered to it, one seen earlier keeps its clock. ISO timestamps
 * compare as text, so the lowering is one conditional update that racing imports cannot undo.
 */
export async function recordContentClocks(store: Database, contents: ReadonlyArray<{ sha256: string; source: string }>, seenAt: Date): Promise<void> {
  const at = seenAt.toISOString();
  const unique = [...new Map(contents.map((c) => [c.sha256, c.source])).entries()];
  for (let i = 0; i < unique.length; i += CLOCK_ROWS_PER_STATEMENT) {
    const batch = unique.slice(i, i + CLOCK_ROWS_PER_STATEMENT);
    // The end of a long path or URL names the file, so that is the part kept.
    const rows = batch.map(([sha256, source]) => ({ content_sha256: sha256, seen_at: at, source: source.length > CLOCK_SOURCE_CHARS ? `…${source.slice(-(CLOCK_SOURCE_CHARS - 1))}` : source }));
    await store.db.insertInto('content_clocks').ignore().values(rows).execute();
    await store.db
      .updateTable('content_clocks')
      .set({ seen_at: at })
      .where('content_sha256', 'in', batch.map(([sha256]) => sha256))
      .where('seen_at', '>', at)
      .execute();
  }
}

/** The earliest recorded clock of each content (sha256 of a file's text) that has one. */
export async function contentClocksOf(store: Database, sha256s: readonly string[]): Promise<Map<string, Date>> {
  const out = new Map<string, Date>();
  const unique = [...new Set(sha256s)];
  for (let i = 0; i < unique.length; i += CLOCK_ROWS_PER_STATEMENT) {
    const rows = await store.db
      .selectFrom('content_clocks')
      .select(['content_sha256', 'seen_at'])
      .where('content_sha256', 'in', unique.slice(i, i + CLOCK_ROWS_PER_STATEMENT))
      .execute();
    for (const r of rows) {
      const at = new Date(r.seen_at);
      if (!Number.isNaN(at.getTime())) out.set(r.content_sha256, at);
    }
  }
  return out;
}
