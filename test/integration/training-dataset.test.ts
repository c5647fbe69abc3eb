import fs from 'node:fs';
import path from 'node:path';
import { defineFeatureSet, DEFAULT_FEATURE_SET } from '../../lib/features/feature-set';
import { materializeFeatures } from '../../lib/features/materialize';
import { importBars } from '../../lib/ingest/import-bars';
import { importRequestSchema } from '../../lib/ingest/import-request';
import { labelSpecSchema, computeLabels, LABEL_CODE_VERSION } from '../../lib/labels/labels';
import { writeSyntheticMarket } from '../../lib/market-data/synthetic';
import { readBarSeries } from '../../lib/store/bars';
import { readFeatureRows } from '../../lib/store/features';
import { buildTrainingDataset, readDataset, trainingRowsOf, writeDataset } from '../../lib/training/dataset';
import { crossValidate } from '../../lib/training/trial';
import { walkForwardPredict } from '../../lib/training/walk-forward';
import { fitFinalModel, knownAtCutoff } from '../../lib/training/final-model';
import { evaluationRowsOf } from '../../lib/training/evaluation-period';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';
import { localArtifactStore } from '../../lib/artifacts/artifact-store';

const set = defineFeatureSet(DEFAULT_FEATURE_SET);
const label = labelSpecSchema.parse({ kind: 'direction', horizon: 5 });

describe('training dataset from the store', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    const dir = tempDir('mlp-dataset-');
    await writeSyntheticMarket(dir, { symbols: 4, from: '2016-01-04', to: '2017-12-29', plantErrors: false });
    t = await createSqliteTestDatabase();
    await importBars(t.store, importRequestSchema.parse({ source: { kind: 'csv', path: dir } }));
    await materializeFeatures(t.store, set);
  });
  afterAll(async () => {
    await t?.drop();
  });

  it('joins feature rows with labels in time order, with each label window in trading days', async () => {
    const ds = await buildTrainingDataset(t.store, { featureSetVersion: set.version, label, to: '2017-11-30' });
    const series = await readBarSeries(t.store);
    const features = await readFeatureRows(t.store, set.version, { to: '2017-11-30' });
    expect(ds.columns).toHaveLength(61);
    expect(ds.symbols).toHaveLength(4);
    // Every labelled feature row is there once, and nothing else.
    let expected = 0;
    for (const row of features) {
      const s = series.find((x) => x.symbol === row.symbol);
      const i = s?.dates.indexOf(row.date) ?? -1;
      if (s && !Number.isNaN(computeLabels(label, s, s.dates).value[i])) expected++;
    }
    expect(ds.rows).toBe(expected);
    // Time order, then symbol within a day.
    for (let r = 1; r < ds.rows; r++) expect(ds.start[r] > ds.start[r - 1] || (ds.start[r] === ds.start[r - 1] && ds.symbol[r] > ds.symbol[r - 1])).toBe(true);
    for (let r = 0; r < ds.rows; r++) expect(ds.end[r] - ds.start[r]).toBe(5); // same calendar for every symbol here
    // Spot-check one row against the sources.
    const r = Math.floor(ds.rows / 2);
    const symbol = ds.symbols[ds.symbol[r]];
    const date = ds.days[ds.start[r]];
    const s = series.find((x) => x.symbol === symbol);
    const i = s?.dates.indexOf(date) ?? -1;
    const bars = s as NonNullable<typeof s>;
    expect(ds.labels[r]).toBe(computeLabels(label, bars, bars.dates).value[i]);
    // Bought at the next open, sold at the horizon's last close.
    expect(ds.forwardReturn[r]).toBeCloseTo(bars.close[i + 5] / bars.open[i + 1] - 1, 12);
    expect(ds.labels[r]).toBe(bars.close[i + 5] > bars.open[i + 1] ? 1 : 0);
    const featureRow = features.find((f) => f.symbol === symbol && f.date === date);
    expect(Array.from(ds.values.subarray(r * 61, r * 61 + 61))).toEqual(Array.from(featureRow?.values ?? []));
    // Labels look past `to`: the last decision days before it still have labels.
    expect(ds.days[ds.start[ds.rows - 1]]).toBe('2017-11-30');
  });

  it('keeps moves inside the dead zone as evaluation rows, labelled by their sign, and trains on none of them', async () => {
    const deadZone = labelSpecSchema.parse({ kind: 'direction', horizon: 5, deadZone: 0.01 });
    const plain = await buildTrainingDataset(t.store, { featureSetVersion: set.version, label });
    const ds = await buildTrainingDataset(t.store, { featureSetVersion: set.version, label: deadZone });
    // The same rows and labels as without a dead zone: which rows are evaluated cannot depend on the move ahead.
    expect(ds.rows).toBe(plain.rows);
    expect(ds.labels).toEqual(plain.labels);
    const only = ds.evaluationOnly as Int32Array;
    const inside = [...only.keys()].filter((r) => only[r] === 1);
    expect(inside.length).toBeGreaterThan(ds.rows * 0.1);
    expect(inside.every((r) => Math.abs(ds.forwardReturn[r]) <= 0.01)).toBe(true);
    expect([...only.keys()].filter((r) => only[r] === 0).every((r) => Math.abs(ds.forwardReturn[r]) > 0.01)).toBe(true);
    const artifacts = localArtifactStore(tempDir('mlp-artifacts-'));
    expect((await readDataset(artifacts, (await writeDataset(artifacts, ds)).id)).evaluationOnly).toEqual(only);

    const all = Int32Array.from({ length: ds.rows }, (_, r) => r);
    const trainable = trainingRowsOf(ds, all).length;
    expect(trainable).toBe(ds.rows - inside.length);
    const cv = await crossValidate(ds, { algorithm: 'logistic_regression', params: {}, folds: 3, embargoDays: 5, maxTrainRows: 1e6, maxTestRows: 1e6, seed: 1, threads: 1 });
    const cvPlain = await crossValidate(plain, { algorithm: 'logistic_regression', params: {}, folds: 3, embargoDays: 5, maxTrainRows: 1e6, maxTestRows: 1e6, seed: 1, threads: 1 });
    expect(cv.folds.map((f) => f.testRows)).toEqual(cvPlain.folds.map((f) => f.testRows)); // scored on every row
    expect(cv.folds.every((f, i) => f.trainRows < cvPlain.folds[i].trainRows)).toBe(true); // trained without the dead zone
    const wf = await walkForwardPredict(ds, 'td-dead-zone', { algorithm: 'logistic_regression', params: {}, mode: 'expanding', evaluationDays: 60, testDays: 30, trainDays: 0, embargoDays: 0, maxTrainRows: 1e6, seed: 1, threads: 1 });
    expect(wf.rows).toEqual(evaluationRowsOf(ds, 60)); // every evaluation row predicted, the dead zone's included
    const wfPlain = await walkForwardPredict(plain, 'td-plain', { algorithm: 'logistic_regression', params: {}, mode: 'expanding', evaluationDays: 60, testDays: 30, trainDays: 0, embargoDays: 0, maxTrainRows: 1e6, seed: 1, threads: 1 });
    expect(wf.windows.every((w, i) => w.trainRows < wfPlain.windows[i].trainRows)).toBe(true);
    // The final model: never the dead zone. With bars ending at the cut-off every label is known...
    expect(knownAtCutoff(ds)).toHaveLength(ds.rows);
    expect((await fitFinalModel(ds, { algorithm: 'logistic_regression', params: {}, seed: 1, threads: 1 })).trainRows).toBe(trainable);
    // ...with bars past it, the labels that look past it are evaluated but not learnt.
    const cut = await buildTrainingDataset(t.store, { featureSetVersion: set.version, label: deadZone, to: '2017-11-30' });
    expect(cut.cutoff).toBe('2017-11-30');
    const cutoff = cut.days.indexOf('2017-11-30');
    const known = knownAtCutoff(cut);
    expect(known.length).toBeLessThan(cut.rows);
    expect([...known].every((r) => cut.end[r] <= cutoff)).toBe(true);
    expect([...cut.end.keys()].filter((r) => cut.end[r] <= cutoff)).toHaveLength(known.length);
    expect((await fitFinalModel(cut, { algorithm: 'logistic_regression', params: {}, seed: 1, threads: 1 })).trainRows).toBe(trainingRowsOf(cut, known).length);
  });

  it('writes a dataset once under its content id and reads it back verified', async () => {
    const ds = await buildTrainingDataset(t.store, { featureSetVersion: set.version, label });
    const dir = tempDir('mlp-artifacts-');
    const artifacts = localArtifactStore(dir);
    const a = await writeDataset(artifacts, ds);
    const b = await writeDataset(artifacts, ds);
    expect(b.id).toBe(a.id);
    const back = await readDataset(artifacts, a.id);
    expect(back.rows).toBe(ds.rows);
    expect(back.values).toEqual(ds.values);
    expect(back.end).toEqual(ds.end);
    expect(back.label).toEqual(label);
    const file = path.join(dir, 'datasets', `${a.id}.mlpd`);
    const bytes = fs.readFileSync(file);
    bytes[bytes.length - 1] ^= 1;
    fs.writeFileSync(file, bytes);
    await expect(readDataset(artifacts, a.id)).rejects.toThrow(/does not match its id/);
    await expect(readDataset(artifacts, 'td-00000000000000000000000000000000')).rejects.toThrow(/is not in/);
  });

  it('labels over NYSE sessions: a session missing from one symbol unlabels exactly the rows whose horizon spans it', async () => {
    const [symbol] = (await readBarSeries(t.store)).map((s) => s.symbol);
    const gap = '2017-06-05'; // a Monday; 2017-05-29 was Memorial Day
    const before = await buildTrainingDataset(t.store, { featureSetVersion: set.version, label });
    const bar = await t.store.db.selectFrom('bars').selectAll().where('symbol', '=', symbol).where('date', '=', gap).executeTakeFirstOrThrow();
    await t.store.db.deleteFrom('bars').where('symbol', '=', symbol).where('date', '=', gap).execute();
    try {
      const ds = await buildTrainingDataset(t.store, { featureSetVersion: set.version, label });
      expect(ds.labelCodeVersion).toBe(LABEL_CODE_VERSION);
      const rowsOf = (d: typeof ds) => new Map([...Array(d.rows).keys()].map((r) => [`${d.symbols[d.symbol[r]]} ${d.days[d.start[r]]}`, r]));
      const had = rowsOf(before);
      const has = rowsOf(ds);
      const lost = [...had.keys()].filter((k) => !has.has(k));
      // The day's own row (no bar) and the five decision days whose 5 sessions reach it.
      expect(lost).toEqual(['2017-05-26', '2017-05-30', '2017-05-31', '2017-06-01', '2017-06-02', gap].map((d) => `${symbol} ${d}`));
      // Every other row keeps its label, its 5-session window and its 5-session forward return.
      for (const [k, r] of has) {
        const o = had.get(k) as number;
        expect([k, ds.labels[r], ds.days[ds.end[r]], ds.forwardReturn[r]]).toEqual([k, before.labels[o], before.days[before.end[o]], before.forwardReturn[o]]);
        expect(ds.end[r] - ds.start[r]).toBe(5);
      }
    } finally {
      await t.store.db.insertInto('bars').values(bar).execute();
    }
  });

  it('refuses a stored row whose values are not one per column, naming it, instead of shifting the rows after it', async () => {
    const [row] = await t.store.db.selectFrom('feature_rows').select(['symbol', 'date', 'vals']).where('version', '=', set.version).where('date', '=', '2017-06-01').limit(1).execute();
    const whole = row.vals;
    try {
      for (const width of [60, 62]) {
        const vals = Buffer.alloc(width * 8);
        Buffer.from(whole).copy(vals, 0, 0, Math.min(whole.byteLength, vals.byteLength));
        await t.store.db.updateTable('feature_rows').set({ vals }).where('version', '=', set.version).where('symbol', '=', row.symbol).where('date', '=', row.date).execute();
        await expect(buildTrainingDataset(t.store, { featureSetVersion: set.version, label })).rejects.toThrow(`feature row ${row.symbol} ${row.date} (${set.version}) holds ${width * 8} bytes, not the 61 float64s`);
      }
    } finally {
      await t.store.db.updateTable('feature_rows').set({ vals: whole }).where('version', '=', set.version).where('symbol', '=', row.symbol).where('date', '=', row.date).execute();
    }
  });
});
