/**
 * The one check that a registered model version's artifact can be served, and the serving loader
 * itself: the file is present and matches the sha256 and size the registry recorded, its header
 * decodes (magic, checksum, format, algorithm and its payload version) and agrees with the registry
 * row on every field both record (algorithm, feature set, label, each parameter the row states:
 * lib/registry/recorded-fields.ts), its feature set is in the store as this build's feature code
 * would store it (the definition is a valid feature set, this code gives it the row's version and
 * the row's columns are the ones it yields: lib/features/stored-feature-set.ts, as the stream
 * consumer checks) and its feature order is that feature set's column order, it predicts the two
 * classes serving expects, and the model restores from its state (payload size and every
 * parameter checked by the algorithm's restore: no NaN or infinite weight, no zero scale). With a
 * signing key (MODEL_SIGNING_KEY), the row's signature (lib/registry/row-signature.ts) is checked
 * first, before anything is read: a row edited since registration never leads to reading the files
 * it names, however consistently it was edited (artifact, sha256, size and parameters together). The
 * prediction API's loader (loadRegisteredModel), the deployment activities and the admin route and
 * rollback handlers all call this, so a version that one would refuse the other never routes to,
 * and both refuse it with the same message.
 */
import { ALGORITHM_VERSIONS, restoreModel } from '../../models/algorithms';
import { ArtifactError, decodeArtifact, type ArtifactHeader } from '../../models/artifact';
import type { ModelState, TrainedModel } from '../../models/model';
import type { ArtifactStore } from '../artifacts/artifact-store';
import { BadInputError } from '../errors';
import { firstColumnDifference, rebuildStoredFeatureSet } from '../features/stored-feature-set';
import type { Database } from '../store/database';
import { readArtifact } from './artifact-store';
import type { ModelVersion } from './model-registry';
import { recordedFieldMismatch } from './recorded-fields';
import { rowSignatureCheck, verificationKeysOf } from './row-signature';

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
  /** The id of the previous key (MODEL_SIGNING_PREVIOUS_KEYS) whose signature vouched for the row: a rotation whose re-signing is pending. */
  previousKeyId?: string;
}

/**
 * The column order of a stored feature set, after checking its row is one this code would store
 * (else the reason it is not); undefined when the store does not hold it.
 */
async function storedFeatureSetColumns(store: Database, featureSetVersion: string): Promise<{ columns: string[] } | { problem: string } | undefined> {
  const row = await store.db.selectFrom('feature_sets').select(['definition', 'columns']).where('version', '=', featureSetVersion).executeTakeFirst();
  if (!row) return undefined;
  try {
    return { columns: rebuildStoredFeatureSet({ version: featureSetVersion, definition: row.definition, columns: row.columns }).columns };
  } catch (error) {
    if (error instanceof BadInputError) return { problem: error.message };
    throw error;
  }
}

/**
 * Why a model whose artifact names `featureNames` (in that order) cannot be served, hence neither
 * registered nor promoted, under feature set `featureSetVersion`: the store does not hold the
 * feature set (no online features are computed for it and its column order cannot be checked),
 * holds a row this code would not store, or the names or their order differ from its column order.
 * Undefined when they agree. Registration, the pipeline's promotion and verification all ask this,
 * so what one refuses the others never store, promote or serve, with the same words.
 */
export async function featureOrderProblem(store: Database, featureSetVersion: string, featureNames: readonly string[]): Promise<string | undefined> {
  const stored = await storedFeatureSetColumns(store, featureSetVersion);
  if (stored === undefined) return `feature set ${featureSetVersion} is not in the store, so its column order cannot be checked and no online features are computed for it; materialise the feature set (a pipeline run does) before serving the model`;
  if ('problem' in stored) return stored.problem;
  const difference = firstColumnDifference(featureNames, stored.columns);
  return difference ? `feature order differs from feature set ${featureSetVersion}: ${difference}` : undefined;
}

export interface VerifyArtifactOptions {
  /**
   * MODEL_SIGNING_KEY (lib/config.ts): when set, the row must carry this key's signature over its
   * fields (or a previous key's), else it is refused before anything is read; undefined: rows are
   * not bound (no check).
   */
  signingKey: string | undefined;
  /** MODEL_SIGNING_PREVIOUS_KEYS: a row one of them signed verifies too (a key rotation in progress). */
  previousKeys?: readonly string[];
  /** Every check but the signature's: only to sign a row after checking it (signModelVersion, `mlp models sign`). */
  skipSignatureCheck?: boolean;
}

/**
 * Verifies `v`'s artifact in the artifact store and restores its model; throws ArtifactVerificationError
 * saying what is wrong, or the store's own error (not a verdict, worth retrying) when it cannot be read.
 */
export async function verifyModelArtifact(store: Database, artifacts: ArtifactStore, v: ModelVersion, options: VerifyArtifactOptions): Promise<VerifiedArtifact> {
  const fail = (cause: string): never => {
    throw new ArtifactVerificationError(v.name, v.version, cause);
  };
  // First: an edited row must not lead to reading the artifact (or feature set) it names.
  let previousKeyId: string | undefined;
  const keys = verificationKeysOf(options);
  if (keys !== undefined && !options.skipSignatureCheck) {
    const check = rowSignatureCheck(keys, v);
    if (check.problem !== undefined) fail(check.problem);
    previousKeyId = check.previousKeyId;
  }
  // A signed row in a process without the key: the deployment signs its rows, and this process was
  // started without the key they share (a host's configuration left out). Served unchecked, an edited
  // row would pass here that every other process refuses; refused instead, loudly, on every such row.
  if (options.signingKey === undefined && v.signature !== undefined) {
    fail(`the registry row is signed (key id ${v.signature.keyId}) and this process has no MODEL_SIGNING_KEY to check it: start it with the key the deployment's other processes use (docs/configuration.md)`);
  }
  let bytes: Buffer;
  try {
    // sha256 of the store's own copy against the registry's: a copy this machine caches stays intact
    // when the stored object is damaged or deleted, which every other machine would then refuse.
    bytes = await readArtifact(artifacts, v.artifactSha256, { fromStore: true });
  } catch (error) {
    // Only what the store answered is a verdict (no such object, wrong bytes: ArtifactError). A store
    // that cannot be read (refused connection, timeout, 5xx, denied, no bucket, a local I/O error)
    // says nothing about the artifact: thrown as is, so activities retry and the API keeps what it serves.
    if (error instanceof ArtifactError) return fail(error.message);
    throw error;
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
  // set would fail every prediction. A row this code would not store (another feature code version,
  // an edited definition or column list) is refused as the stream consumer refuses it: its features
  // would not be computed online, or not as the model learnt them.
  const featureProblem = await featureOrderProblem(store, v.featureSetVersion, header.featureNames);
  if (featureProblem) fail(featureProblem);
  // Checked before restoring: serving never restores what it cannot serve.
  if (state.classes !== SERVED_CLASSES) fail(`the model predicts ${state.classes} classes; serving expects binary (class 1 = up) models`);
  let model: TrainedModel;
  try {
    model = restoreModel(state);
  } catch (error) {
    return fail((error as Error).message);
  }
  return { header, state, model, ...(previousKeyId !== undefined ? { previousKeyId } : {}) };
}
