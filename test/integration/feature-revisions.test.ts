import fs from 'node:fs';
import path from 'node:path';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { defineFeatureSet, DEFAULT_FEATURE_SET, type FeatureSet } from '../../lib/features/feature-set';
import { materializeFeatures } from '../../lib/features/materialize';
import { readOnlineFeatures } from '../../lib/features/online-features';
import { importBars } from '../../lib/ingest/import-bars';
import { importRequestSchema, type ImportRequestInput } from '../../lib/ingest/import-request';
import { labelSpecSchema } from '../../lib/labels/labels';
import { writeSyntheticMarket } from '../../lib/market-data/synthetic';
import { readBars } from '../../lib/store/bars';
import type { Database } from '../../lib/store/database';
import { knownStaleFrom, readFeatureRows } from '../../lib/store/features';
import { getSnapshot } from '../../lib/store/snapshots';
import { buildTrainingDataset, writeDataset } from '../../lib/training/dataset';
import { auditPointInTime } from '../../lib/training/point-in-time-audit';
import { createSqliteTestDatabase, DRIVERS, tempDir, type TestDatabase } from '../helpers/databases';
import { localArtifactStore } from '../../lib/artifacts/artifact-store';

/**
 * Issue 13, point 2: a publish that revises or back-fills bars must leave the offline rows, the
 * online vectors and the datasets built from them as a full recomputation over the new bars would.
 */
const set = defineFeatureSet(DEFAULT_FEATURE_SET);
// Per-symbol columns only: a change stays within its symbol.
const ownSet = defineFeatureSet({ name: 'own-only', features: [{ kind: 'return', horizon: 1 }, { kind: 'ema_ratio', window: 26 }, { kind: 'rsi', window: 14 }] });
const label = labelSpecSchema.parse({ kind: 'direction', horizon: 5 });
const request = (input: ImportRequestInput) => importRequestSchema.parse(input);

const REVISED = 'SYN02';
const REVISED_DATE = '2017-03-01';
const BACKFILLED = 'SYN01';
const BACKFILLED_DATE = '2017-08-15';

let original: string;
let corrected: string;
let gappy: string;

/** The CSV of `symbol` in `dir` with `edit` applied to its data lines. */
function editCsv(from: string, to: string, symbol: string, edit: (lines: string[]) => string[]): void {
  fs.mkdirSync(to, { recursive: true });
  for (const f of fs.readdirSync(from)) fs.copyFileSync(path.join(from, f), path.join(to, f));
  const file = path.join(to, `${symbol}.csv`);
  const [header, ...lines] = fs.readFileSync(file, 'utf8').trimEnd().split('\n');
  fs.writeFileSync(file, `${[header, ...edit(lines)].join('\n')}\n`);
}

beforeAll(async () => {
  original = tempDir('mlp-rev-original-');
  await writeSyntheticMarket(original, { symbols: 5, from: '2016-01-04', to: '2018-06-29', plantErrors: false });
  // One old close of one symbol moved within its day's range: a correction the gate passes.
  corrected = tempDir('mlp-rev-corrected-');
  editCsv(original, corrected, REVISED, (lines) =>
    lines.map((line) => {
      if (!line.startsWith(REVISED_DATE)) return line;
      const [date, open, high, low, , volume, name] = line.split(',');
      return [date, open, high, low, (Number(low) + 0.25 * (Number(high) - Number(low))).toFixed(4), volume, name].join(',');
    }),
  );
  // The same market with one mid-history day of one symbol missing.
  gappy = tempDir('mlp-rev-gappy-');
  editCsv(original, gappy, BACKFILLED, (lines) => lines.filter((line) => !line.startsWith(BACKFILLED_DATE)));
  expect(fs.readFileSync(path.join(gappy, `${BACKFILLED}.csv`), 'utf8')).not.toContain(BACKFILLED_DATE);
  expect(fs.readFileSync(path.join(corrected, `${REVISED}.csv`), 'utf8')).not.toEqual(fs.readFileSync(path.join(original, `${REVISED}.csv`), 'utf8'));
});

async function storedRows(store: Database, featureSet: FeatureSet): Promise<string[]> {
  const rows = await store.db.selectFrom('feature_rows').select(['symbol', 'date', 'vals']).where('version', '=', featureSet.version).orderBy('symbol').orderBy('date').execute();
  return rows.map((r) => `${r.symbol} ${r.date} ${Buffer.from(r.vals).toString('hex')}`);
}

/** The store a full recomputation gives: the final bars imported at once, materialised from nothing. */
async function freshReference(dir: string, featureSet: FeatureSet): Promise<{ t: TestDatabase; rows: string[]; datasetId: string }> {
  const t = await createSqliteTestDatabase();
  await importBars(t.store, request({ source: { kind: 'csv', path: dir } }));
  await materializeFeatures(t.store, featureSet);
  const rows = await storedRows(t.store, featureSet);
  const datasetId = (await writeDataset(localArtifactStore(tempDir('mlp-rev-ds-')), await buildTrainingDataset(t.store, { featureSetVersion: featureSet.version, label }))).id;
  return { t, rows, datasetId };
}

/** Every symbol's online vector is its newest offline row. */
async function expectOnlineEqualsNewestRows(store: Database, cache: MemoryCache, featureSet: FeatureSet): Promise<void> {
  const rows = await readFeatureRows(store, featureSet.version);
  const newest = new Map(rows.map((r) => [r.symbol, r]));
  expect(newest.size).toBe(5);
  for (const [symbol, row] of newest) {
    const online = await readOnlineFeatures(cache, featureSet.version, symbol);
    expect(online?.asOf).toBe(row.date);
    expect(online?.values).toEqual(Array.from(row.values));
  }
}

/** Runs the features step as the pipeline's activity does: the snapshot's symbols, up to its last date. */
async function featuresFor(store: Database, snapshotId: string, featureSet: FeatureSet, cache: MemoryCache) {
  const snapshot = await getSnapshot(store, snapshotId);
  return materializeFeatures(store, featureSet, { symbols: snapshot?.symbols, to: snapshot?.lastDate ?? undefined, cache });
}

describe.each(DRIVERS)('feature rows after revised bars (%s)', (_driver, createDatabase) => {
  let t: TestDatabase;
  let reference: Awaited<ReturnType<typeof freshReference>>;
  beforeAll(async () => {
    [t, reference] = await Promise.all([createDatabase(), freshReference(corrected, set)]);
  });
  afterAll(async () => {
    await Promise.all([t?.drop(), reference?.t.drop()]);
  });

  it('recomputes every symbol from the revised date on (market columns), equal to a full recomputation: rows, online vectors, dataset id, point-in-time audit', async () => {
    const cache = new MemoryCache();
    await importBars(t.store, request({ source: { kind: 'csv', path: original } }));
    const first = await materializeFeatures(t.store, set, { cache });
    expect(first.rowsRecomputed).toBe(0);
    const before = await storedRows(t.store, set);
    const dsDir = tempDir('mlp-rev-ds-');
    const beforeId = (await writeDataset(localArtifactStore(dsDir), await buildTrainingDataset(t.store, { featureSetVersion: set.version, label }))).id;

    // The corrected file of the one symbol, imported alone, as a re-import would bring it.
    const summary = await importBars(t.store, request({ source: { kind: 'csv', path: corrected }, symbols: [REVISED] }));
    expect((await getSnapshot(t.store, summary.snapshotId))?.barsRevised).toBe(1);
    expect(await readBars(t.store)).toEqual(await readBars(reference.t.store));

    // Rows left as they were (what the features step did before): the audit names ret_1.
    const window = { featureSetVersion: set.version, label, from: REVISED_DATE, to: '2017-03-03' };
    const stale = await buildTrainingDataset(t.store, window);
    const staleAudit = await auditPointInTime(t.store, stale, { seed: 1 });
    expect(staleAudit.passed).toBe(false);
    expect(staleAudit.mismatchedFeatures.map((m) => m.feature)).toContain('ret_1');
    expect(staleAudit.message).toContain(`feature ret_1 on ${REVISED} ${REVISED_DATE}`);

    const report = await featuresFor(t.store, summary.snapshotId, set, cache);
    const recomputed = before.filter((r) => r.split(' ')[1] >= REVISED_DATE).length;
    expect(report).toMatchObject({ rowsWritten: 0, rowsRecomputed: recomputed, recomputedFrom: REVISED_DATE });
    expect(report.onlineUpdated).toBe(5);
    expect(await storedRows(t.store, set)).toEqual(reference.rows);
    await expectOnlineEqualsNewestRows(t.store, cache, set);

    const after = await buildTrainingDataset(t.store, { featureSetVersion: set.version, label });
    const afterId = (await writeDataset(localArtifactStore(dsDir), after)).id;
    expect(afterId).not.toBe(beforeId);
    expect(afterId).toBe(reference.datasetId);
    const audit = await auditPointInTime(t.store, after, { seed: 1 });
    expect(audit.mismatchedFeatures).toEqual([]);
    expect(audit.passed).toBe(true);
    expect((await auditPointInTime(t.store, await buildTrainingDataset(t.store, window), { seed: 1 })).passed).toBe(true);

    // The revision is applied once: the next run, and one after an import that revises nothing, stay incremental.
    expect(await materializeFeatures(t.store, set, { cache })).toMatchObject({ rowsWritten: 0, rowsRecomputed: 0, recomputedFrom: null });
    const unrelated = await importBars(t.store, request({ source: { kind: 'csv', path: corrected }, symbols: ['SYN04'] }));
    expect(await featuresFor(t.store, unrelated.snapshotId, set, cache)).toMatchObject({ rowsWritten: 0, rowsRecomputed: 0 });
    expect(await storedRows(t.store, set)).toEqual(reference.rows);
  });
});

describe('feature rows after back-filled and revised bars (SQLite)', () => {
  const dbs: TestDatabase[] = [];
  afterAll(async () => {
    await Promise.all(dbs.map((t) => t.drop()));
  });

  it.each([
    ['market columns', set],
    ['per-symbol columns only', ownSet],
  ])('a day back-filled in the middle of one history recomputes from that day (%s)', async (_name, featureSet) => {
    const [t, reference] = await Promise.all([createSqliteTestDatabase(), freshReference(original, featureSet)]);
    dbs.push(t, reference.t);
    const cache = new MemoryCache();
    await importBars(t.store, request({ source: { kind: 'csv', path: gappy } }));
    await materializeFeatures(t.store, featureSet, { cache });
    const before = await storedRows(t.store, featureSet);
    const beforeId = (await writeDataset(localArtifactStore(tempDir('mlp-rev-ds-')), await buildTrainingDataset(t.store, { featureSetVersion: featureSet.version, label }))).id;

    const summary = await importBars(t.store, request({ source: { kind: 'csv', path: original }, symbols: [BACKFILLED] }));
    expect(await getSnapshot(t.store, summary.snapshotId)).toMatchObject({ barsAdded: 1, barsRevised: 0 });
    const report = await featuresFor(t.store, summary.snapshotId, featureSet, cache);
    const crosses = featureSet === set;
    const recomputed = before.filter((r) => r.split(' ')[1] >= BACKFILLED_DATE && (crosses || r.startsWith(`${BACKFILLED} `))).length;
    // The back-filled day's row is written with the rows recomputed from it.
    expect(report).toMatchObject({ rowsWritten: 0, rowsRecomputed: recomputed + 1, recomputedFrom: BACKFILLED_DATE });
    expect(await storedRows(t.store, featureSet)).toEqual(reference.rows);
    await expectOnlineEqualsNewestRows(t.store, cache, featureSet);
    const afterId = (await writeDataset(localArtifactStore(tempDir('mlp-rev-ds-')), await buildTrainingDataset(t.store, { featureSetVersion: featureSet.version, label }))).id;
    expect(afterId).not.toBe(beforeId);
    expect(afterId).toBe(reference.datasetId);
    expect(await materializeFeatures(t.store, featureSet, { cache })).toMatchObject({ rowsWritten: 0, rowsRecomputed: 0 });
  });

  it('a revision with per-symbol columns only recomputes that symbol alone', async () => {
    const [t, reference] = await Promise.all([createSqliteTestDatabase(), freshReference(corrected, ownSet)]);
    dbs.push(t, reference.t);
    const cache = new MemoryCache();
    await importBars(t.store, request({ source: { kind: 'csv', path: original } }));
    await materializeFeatures(t.store, ownSet, { cache });
    const before = await storedRows(t.store, ownSet);
    const summary = await importBars(t.store, request({ source: { kind: 'csv', path: corrected } }));
    const report = await featuresFor(t.store, summary.snapshotId, ownSet, cache);
    expect(report).toMatchObject({ rowsWritten: 0, rowsRecomputed: before.filter((r) => r.startsWith(`${REVISED} `) && r.split(' ')[1] >= REVISED_DATE).length, recomputedFrom: REVISED_DATE });
    expect(await storedRows(t.store, ownSet)).toEqual(reference.rows);
    await expectOnlineEqualsNewestRows(t.store, cache, ownSet);
  });

  it('a run up to an earlier date than the stored rows recomputes every stored row the revision made stale, not only those up to it', async () => {
    const [t, reference] = await Promise.all([createSqliteTestDatabase(), freshReference(corrected, set)]);
    dbs.push(t, reference.t);
    await importBars(t.store, request({ source: { kind: 'csv', path: original } }));
    await materializeFeatures(t.store, set);
    await importBars(t.store, request({ source: { kind: 'csv', path: corrected }, symbols: [REVISED] }));
    // Rows after 2017-06-30 are stored already; left stale, a dataset would read them beside labels of the revised bars.
    const early = await materializeFeatures(t.store, set, { to: '2017-06-30' });
    expect(early.recomputedFrom).toBe(REVISED_DATE);
    expect(await storedRows(t.store, set)).toEqual(reference.rows);
    expect(await knownStaleFrom(t.store, set.version)).toEqual(new Map());
    expect((await materializeFeatures(t.store, set)).rowsRecomputed).toBe(0);
  });
});
