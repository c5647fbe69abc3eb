/**
 * Models and online features whose live outcomes are known: vectors are dated in the past (their
 * 5-day outcome is in the bar store), with an "oracle" column (the first) holding that outcome's sign
 * and a "noise" one. The columns are a real feature set's (oracleFeatureSet: what verification
 * checks is their names and order), the values are the oracle's. A model trained on the oracle
 * predicts every matured outcome right; a flipped one predicts every one wrong. Used by the
 * deployment tests and the deployment-timing benchmark.
 */
import crypto from 'node:crypto';
import type { Cache } from '../../lib/cache/cache';
import { publishOnlineFeatures, type OnlineFeatureVector } from '../../lib/features/online-features';
import { readBarCsv } from '../../lib/market-data/csv-reader';
import { generateSyntheticMarket } from '../../lib/market-data/synthetic';
import { rng } from '../../lib/random';
import { registerModel } from '../../lib/registry/model-registry';
import type { RowSigning } from '../../lib/registry/row-signature';
import { upsertBars } from '../../lib/store/bars';
import type { Database } from '../../lib/store/database';
import { encodeArtifact } from '../../models/artifact';
import { logisticRegression } from '../../models/baselines/logistic-regression';
import { defineTestFeatureSet, saveTestFeatureSet, UNTRACKED_REGISTRATION } from './registration';
import { localArtifactStore } from '../../lib/artifacts/artifact-store';
import type { FeatureSetInput } from '../../lib/features/feature-set';

/** A real two-column feature set under `name` (which sets its version apart): the oracle's column, then the noise one. */
export function oracleFeatureSet(name: string): FeatureSetInput {
  return { name, features: [{ kind: 'return', horizon: 1 }, { kind: 'rsi', window: 14 }] };
}

/** The oracle feature sets' columns (whatever their name): the oracle's ("ret_1") holds the outcome's sign, the noise one ("rsi_14") noise. */
export const ORACLE_COLUMNS = defineTestFeatureSet(oracleFeatureSet('oracle')).columns;
export const [ORACLE_COLUMN, NOISE_COLUMN] = ORACLE_COLUMNS;
export const ORACLE_HORIZON = 5;

export interface OracleMarket {
  symbols: string[];
  /** Vectors dated 30 bars before the end (or earlier, see spreadDays): outcomes matured. */
  featureSetVersion: string;
  /** Vectors dated on the last bar: no outcome can mature. */
  latestFeatureSetVersion: string;
}

/**
 * Stores synthetic bars, both feature sets' rows (real ones, columns ORACLE_COLUMNS) and publishes
 * both kinds of online vectors. With `spreadDays` > 1 the matured vector of the i-th symbol is dated
 * i mod spreadDays bars earlier still, so the symbols' predictions fall on several feature dates (the
 * deployment analyses count symbol-days and cluster them by day: one date decides nothing).
 */
export async function setUpOracleMarket(store: Database, cache: Cache, symbols = 12, options: { spreadDays?: number } = {}): Promise<OracleMarket> {
  // As a pipeline materialises its feature set before registering models of it (verification needs the row).
  // Named apart per market, so markets never share online vectors.
  const name = `oracle-${crypto.randomBytes(4).toString('hex')}`;
  const featureSetVersion = (await saveTestFeatureSet(store, oracleFeatureSet(name))).version;
  const latestFeatureSetVersion = (await saveTestFeatureSet(store, oracleFeatureSet(`${name}-latest`))).version;
  const market = generateSyntheticMarket({ symbols, from: '2017-01-03', to: '2017-06-30', seed: 7, plantErrors: false });
  const matured: OnlineFeatureVector[] = [];
  const latest: OnlineFeatureVector[] = [];
  for (const [i, f] of market.files.entries()) {
    const { bars } = readBarCsv(f.csv, { source: f.fileName });
    await upsertBars(store, bars.map(({ symbol, date, open, high, low, close, volume }) => ({ symbol, date, open, high, low, close, volume })));
    const at = bars.length - 30 - (i % Math.max(1, options.spreadDays ?? 1));
    // The label's outcome: bought at the next open, sold at the horizon's last close.
    const up = bars[at + ORACLE_HORIZON].close > bars[at + 1].open;
    matured.push({ version: featureSetVersion, symbol: f.symbol, asOf: bars[at].date, columns: ORACLE_COLUMNS, values: [up ? 1 : -1, 0] });
    latest.push({ version: latestFeatureSetVersion, symbol: f.symbol, asOf: bars[bars.length - 1].date, columns: ORACLE_COLUMNS, values: [1, 0] });
  }
  await publishOnlineFeatures(cache, matured);
  await publishOnlineFeatures(cache, latest);
  return { symbols: market.files.map((f) => f.symbol), featureSetVersion, latestFeatureSetVersion };
}

/** Registers a logistic regression over the oracle columns (ORACLE_COLUMNS: `featureSetVersion` should be an oracle feature set's); `flip` makes it predict the opposite. */
export async function registerOracleModel(
  store: Database,
  artifactDir: string,
  input: { name: string; seed: number; flip: boolean; featureSetVersion: string; metrics?: Record<string, unknown>; lineage?: Record<string, unknown>; label?: Record<string, unknown>; signing?: RowSigning },
): Promise<number> {
  const next = rng(input.seed);
  const rows = 400;
  const values = new Float64Array(rows * 2);
  const labels = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    const up = next() < 0.5;
    values[r * 2] = up ? 1 : -1;
    values[r * 2 + 1] = next() - 0.5;
    labels[r] = up !== input.flip ? 1 : 0;
  }
  const model = await logisticRegression.fit({ features: { values, rows, featureNames: ORACLE_COLUMNS }, labels, classes: 2, seed: input.seed }, {});
  const label = input.label ?? { kind: 'direction', horizon: ORACLE_HORIZON, deadZone: 0 };
  const { featureSetVersion } = input;
  const v = await registerModel(store, localArtifactStore(artifactDir), {
    name: input.name, artifact: encodeArtifact(model.state(), { featureSetVersion, label }), algorithm: 'logistic_regression', params: {}, seed: input.seed, featureSetVersion, label,
    ...UNTRACKED_REGISTRATION, registrationKey: `${input.name}/${input.seed}/${input.flip}/${crypto.randomUUID()}`, metrics: input.metrics ?? {}, lineage: input.lineage ?? {},
  }, input.signing);
  return v.version;
}
