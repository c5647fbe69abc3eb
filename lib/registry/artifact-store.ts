/**
 * Content-addressed model artifacts: a model's bytes are filed under models/<sha[0..2]>/<sha>.mlpa
 * in the artifact store (lib/artifacts: a local directory or S3-compatible object storage),
 * written once and checked against their sha256 at every read, whichever back-end or cache
 * served them. Writing a model again repairs its stored copy when that copy no longer matches.
 */
import { ArtifactError, sha256 } from '../../models/artifact';
import type { ArtifactStore, ReadOptions } from '../artifacts/artifact-store';

/** The key of the artifact with this sha256 (models/ab/ab….mlpa). */
export function artifactKey(sha: string): string {
  if (!/^[0-9a-f]{64}$/.test(sha)) throw new ArtifactError(`"${sha}" is not a sha256 (64 hex characters)`);
  return `models/${sha.slice(0, 2)}/${sha}.mlpa`;
}

/**
 * Stores the bytes under their sha256 and returns it. An intact stored copy is left alone (storing
 * the same bytes again writes nothing); a stored copy whose bytes do not hash to its address (a
 * damaged disk, a hand edit) is replaced by these bytes, atomically, so registering or saving the
 * model again repairs it. `stored` says which happened.
 */
export async function putArtifact(store: ArtifactStore, bytes: Uint8Array): Promise<{ sha256: string; url: string; stored: 'written' | 'kept' | 'replaced' }> {
  const sha = sha256(bytes);
  const key = artifactKey(sha);
  const stored = await store.putOrRepair(key, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), (b) => sha256(b) === sha);
  return { sha256: sha, url: store.urlOf(key), stored };
}

/**
 * The artifact's bytes, verified against the sha256 they are filed under. `fromStore`: the store's
 * own copy, not this machine's cached one (verification before serving: lib/registry/verify-artifact.ts).
 */
export async function readArtifact(store: ArtifactStore, sha: string, options: ReadOptions = {}): Promise<Buffer> {
  const key = artifactKey(sha);
  const bytes = await store.get(key, (b) => sha256(b) === sha, options);
  if (!bytes) throw new ArtifactError(`artifact ${sha} is missing from ${store.description}; check ARTIFACT_DIR / ARTIFACT_URL or restore the object`);
  if (sha256(bytes) !== sha) throw new ArtifactError(`artifact ${store.urlOf(key)} does not match its sha256: the file was modified or corrupted; restore it from a backup or retrain`);
  return bytes;
}
