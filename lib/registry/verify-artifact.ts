/**
 * The one check that a registered model version's artifact can be served: the file is present and
 * matches the sha256 and size the registry recorded, its header decodes (magic, checksum, format,
 * algorithm and its payload version, feature set) and agrees with the registry row, and its feature
 * order is the feature set's column order (when the feature set is in the store). The prediction
 * API's loader and the deployment activities both call this, so a version that one would refuse
 * the other never routes to.
 */
import { ALGORITHM_VERSIONS } from '../../models/algorithms';
import { ArtifactError, decodeArtifact, type ArtifactHeader } from '../../models/artifact';
import type { ModelState } from '../../models/model';
import type { ArtifactStore } from '../artifacts/artifact-store';
import type { Database } from '../store/database';
import { readArtifact } from './artifact-store';
import type { ModelVersion } from './model-registry';

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
}

/** The stored column order of a feature set, or undefined when the store does not hold it. */
async function featureSetColumns(store: Database, featureSetVersion: string): Promise<string[] | undefined> {
  const row = await store.db.selectFrom('feature_sets').select('columns').where('version', '=', featureSetVersion).executeTakeFirst();
  return row ? (JSON.parse(row.columns) as string[]) : undefined;
}

/** Verifies `v`'s artifact in the artifact store; throws ArtifactVerificationError saying what is wrong. */
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
  let decoded: VerifiedArtifact;
  try {
    decoded = decodeArtifact(bytes, { algorithms: ALGORITHM_VERSIONS, featureSetVersion: v.featureSetVersion });
  } catch (error) {
    return fail((error as Error).message);
  }
  const { header } = decoded;
  if (header.algorithm !== v.algorithm) fail(`the header says ${header.algorithm}, the registry says ${v.algorithm}`);
  const columns = await featureSetColumns(store, v.featureSetVersion);
  if (columns) {
    const at = header.featureNames.findIndex((name, i) => name !== columns[i]);
    if (header.featureNames.length !== columns.length || at >= 0) {
      const i = at >= 0 ? at : Math.min(header.featureNames.length, columns.length);
      fail(`feature order differs from feature set ${v.featureSetVersion}: ${header.featureNames.length} vs ${columns.length} columns, first difference at column ${i} (${JSON.stringify(header.featureNames[i] ?? null)} vs ${JSON.stringify(columns[i] ?? null)})`);
    }
  }
  return decoded;
}
