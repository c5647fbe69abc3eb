/**
 * A publish that revises bars after the features step (an import finishing while a run is between
 * its features and dataset steps) leaves stored rows made from the old bars, and the dataset built
 * from them pairs those rows with labels from the new bars. The point-in-time audit recomputes a
 * sample of a few dates: a revision between them, in a feature set of short windows, changes rows
 * it never looks at. It also reads what the store knows is stale, and fails on that.
 */
import fs from 'node:fs';
import path from 'node:path';
import { defineFeatureSet } from '../../lib/features/feature-set';
import { materializeFeatures } from '../../lib/features/materialize';
import { importBars } from '../../lib/ingest/import-bars';
import { importRequestSchema, type ImportRequestInput } from '../../lib/ingest/import-request';
import { labelSpecSchema } from '../../lib/labels/labels';
import { writeSyntheticMarket } from '../../lib/market-data/synthetic';
import { getSnapshot } from '../../lib/store/snapshots';
import { knownStaleFrom } from '../../lib/store/features';
import { buildTrainingDataset } from '../../lib/training/dataset';
import { auditPointInTime } from '../../lib/training/point-in-time-audit';
import { copyOfDir, createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';

// Per-symbol columns of short windows: a revised close changes its symbol's rows of a few days only.
const shortSet = defineFeatureSet({ name: 'short-windows', features: [{ kind: 'return', horizon: 1 }, { kind: 'sma_ratio', window: 5 }] });
const label = labelSpecSchema.parse({ kind: 'direction', horizon: 5 });
const request = (input: ImportRequestInput) => importRequestSchema.parse(input);
const REVISED = 'SYN02';
const REVISED_DATE = '2017-03-01';

describe('point-in-time audit of rows the store knows are stale', () => {
  let t: TestDatabase;
  let original: string;
  let corrected: string;
  beforeAll(async () => {
    original = tempDir('mlp-stale-original-');
    await writeSyntheticMarket(original, { symbols: 5, from: '2016-01-04', to: '2018-06-29', plantErrors: false });
    corrected = copyOfDir(original, 'mlp-stale-corrected-');
    const file = path.join(corrected, `${REVISED}.csv`);
    const [header, ...lines] = fs.readFileSync(file, 'utf8').trimEnd().split('\n');
    // One old close moved within its day's range: a correction the gate passes.
    const edited = lines.map((line) => {
      if (!line.startsWith(REVISED_DATE)) return line;
      const [date, open, high, low, , volume, name] = line.split(',');
      return [date, open, high, low, (Number(low) + 0.25 * (Number(high) - Number(low))).toFixed(4), volume, name].join(',');
    });
    fs.writeFileSync(file, `${[header, ...edited].join('\n')}\n`);
    t = await createSqliteTestDatabase();
  });
  afterAll(async () => {
    await t?.drop();
  });

  it('fails a dataset built on rows a later publish revised bars under, naming the symbol and date, and passes once they are recomputed', async () => {
    await importBars(t.store, request({ source: { kind: 'csv', path: original } }));
    await materializeFeatures(t.store, shortSet);
    const clean = await auditPointInTime(t.store, await buildTrainingDataset(t.store, { featureSetVersion: shortSet.version, label }), { seed: 1 });
    expect(clean.passed).toBe(true);

    // The corrected file published after the features step, before the dataset is built.
    const summary = await importBars(t.store, request({ source: { kind: 'csv', path: corrected }, symbols: [REVISED] }));
    expect((await getSnapshot(t.store, summary.snapshotId))?.barsRevised).toBe(1);
    expect(await knownStaleFrom(t.store, shortSet.version)).toEqual(new Map([[REVISED, REVISED_DATE]]));

    const stale = await buildTrainingDataset(t.store, { featureSetVersion: shortSet.version, label });
    const audit = await auditPointInTime(t.store, stale, { seed: 1 });
    // The sampled dates hold no row the revision changed: recomputed, they all agree.
    expect(audit.mismatchedFeatures).toEqual([]);
    expect(audit.datesChecked.some((d) => d >= REVISED_DATE && d <= '2017-03-08')).toBe(false);
    expect(audit.staleRows).toEqual([{ symbol: REVISED, from: REVISED_DATE }]);
    expect(audit.passed).toBe(false);
    expect(audit.message).toContain(`stored feature rows the dataset was built from are stale: ${REVISED} from ${REVISED_DATE}`);

    // A dataset ending before the revised date is made of rows the revision did not touch.
    expect((await auditPointInTime(t.store, await buildTrainingDataset(t.store, { featureSetVersion: shortSet.version, label, to: '2017-02-28' }), { seed: 1 })).passed).toBe(true);

    // The features step absorbs the revision and recomputes the rows: nothing is stale any more.
    const report = await materializeFeatures(t.store, shortSet);
    expect(report.recomputedFrom).toBe(REVISED_DATE);
    expect(await knownStaleFrom(t.store, shortSet.version)).toEqual(new Map());
    const fresh = await buildTrainingDataset(t.store, { featureSetVersion: shortSet.version, label });
    const after = await auditPointInTime(t.store, fresh, { seed: 1 });
    expect(after.passed).toBe(true);
    expect(after.staleRows).toBeUndefined();
    // The stale dataset's rows of the revised date were the old bars' (what the audit could not see by sampling).
    const r = (ds: typeof stale) => Array.from(ds.start.keys()).find((i) => ds.days[ds.start[i]] === REVISED_DATE && ds.symbols[ds.symbol[i]] === REVISED) as number;
    const p = stale.columns.length;
    expect(Array.from(stale.values.subarray(r(stale) * p, r(stale) * p + p))).not.toEqual(Array.from(fresh.values.subarray(r(fresh) * p, r(fresh) * p + p)));
  });
});
