/**
 * The one check that a registered model version's artifact can be served, and the serving loader
 * itself: the file is present and matches the sha256 and size the registry recorded, its header
 * decodes (magic, checksum, format, algorithm and its payload version) and agrees with the registry
 * row on every field both record (algorithm, feature set, label, each parameter the row states:
 * lib/registry/recorded-fields.ts), its feature set is in the store and its feature order is that
 * feature set's column order, it predicts the two classes serving expects, and the model restores from its state
 * (payload size and every parameter checked by the algorithm's restore: no NaN or infinite weight,
 * no zero scale). The prediction API's loader (loadRegisteredModel), the deployment activities and
 * the admin route and rollback handlers all call this, so a version that one would refuse the other
 * never routes to, and both refuse it with the same message.
 */
import { ALGORITHM_VERSIONS, restoreModel } from '../../models/algorithms';
import { ArtifactError, decodeArtifact, type ArtifactHeader } from '../../models/artifact';
import type { ModelState, TrainedModel } from '../../models/model';
import type { ArtifactStore } from '../artifacts/artifact-store';
import type { Database } from '../store/database';
import { readArtifact } from './artifact-store';
import type { ModelVersion } from './model-registry';
import { recordedFieldMismatch } from './recorded-fields';

/** Classes of every served model: the API reports the probability of class 1 (up). */
export const SERVED_CLASSES = 2;

/** A version's artifact failed verification; the message names the version and the cause. */
export class ArtifactVerificationError extends ArtifactError {
  override name = 'ArtifactVerificationError';
  constructor(
    readonly model: string,
    readonly version: number,
    /** What is wrong, without the version prefix. */
    readonly reason: string,
  ) {
    super(`${model} v${version} artifact failed verification: ${reason}`);
  }
}

export interface VerifiedArtifact {
  header: ArtifactHeader;
  state: ModelState;
  /** The model restored from the state: what the serving loader serves. */
  model: TrainedModel;
}

/** The stored column order of a feature set, or undefined when the store does not hold it. */
async function featureSetColumns(store: Database, featureSetVersion: string): Promise<string[] | undefined> {
  const row = await store.db.selectFrom('feature_sets').select('columns').where('version', '=', featureSetVersion).executeTakeFirst();
  return row ? (JSON.parse(row.columns) as string[]) : undefined;
}

/** Verifies `v`'s artifact in the artifact store and restores its model; throws ArtifactVerificationError saying what is wrong. */
export async function verifyModelArtifact(store: Database, artifacts: ArtifactStore, v: ModelVersion): Promise<VerifiedArtifact> {
  const fail = (cause: string): never => {
    throw new ArtifactVerificationError(v.name, v.version, cause);
  };
  let bytes: Buffer;
  try {
    bytes = await readArtifact(artifacts, v.artifactSha256); // sha256 of the file against the registry's
  } catch (error) {
    return fail((error as Error).message);
  }
  if (bytes.byteLength !== v.artifactBytes) fail(`the file is ${bytes.byteLength} bytes, the registry recorded ${v.artifactBytes}`);
  let decoded: Omit<VerifiedArtifact, 'model'>;
  try {
    decoded = decodeArtifact(bytes, { algorithms: ALGORITHM_VERSIONS });
  } catch (error) {
    return fail((error as Error).message);
  }
  const { header, state } = decoded;
  // The row must describe the model it points at: algorithm, feature set, label and every parameter it states.
  const mismatch = recordedFieldMismatch(v, header, 'registry');
  if (mismatch) fail(mismatch);
  // Online features are computed for feature sets of the store only (lib/streaming/feature-sets.ts),
  // and the column order can be checked only against the stored one: a model of an unknown feature
  // set would fail every prediction.
  const columns = (await featureSetColumns(store, v.featureSetVersion)) ?? fail(`feature set ${v.featureSetVersion} is not in the store, so its column order cannot be checked and no online features are computed for it; materialise the feature set (a pipeline run does) before serving the model`);
  const at = header.featureNames.findIndex((name, i) => name !== columns[i]);
  if (header.featureNames.length !== columns.length || at >= 0) {
    const i = at >= 0 ? at : Math.min(header.featureNames.length, columns.length);
    fail(`feature order differs from feature set ${v.featureSetVersion}: ${header.featureNames.length} vs ${columns.length} columns, first difference at column ${i} (${JSON.stringify(header.featureNames[i] ?? null)} vs ${JSON.stringify(columns[i] ?? null)})`);
  }
  // Checked before restoring: serving never restores what it cannot serve.
  if (state.classes !== SERVED_CLASSES) fail(`the model predicts ${state.classes} classes; serving expects binary (class 1 = up) models`);
  let model: TrainedModel;
  try {
    model = restoreModel(state);
  } catch (error) {
    return fail((error as Error).message);
  }
  return { header, state, model };
}
