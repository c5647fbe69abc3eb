/**
 * Content-addressed artifact files: a model's bytes live at <dir>/models/<sha[0..2]>/<sha>.mlpa,
 * written once (temporary file + rename, so a crash never leaves half a file under the name) and
 * checked against their sha256 at every read.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ArtifactError, sha256 } from '../../models/artifact';

export function artifactPath(dir: string, sha: string): string {
  if (!/^[0-9a-f]{64}$/.test(sha)) throw new ArtifactError(`"${sha}" is not a sha256 (64 hex characters)`);
  return path.join(dir, 'models', sha.slice(0, 2), `${sha}.mlpa`);
}

/** Stores the bytes under their sha256 and returns it; storing the same bytes again is a no-op. */
export function putArtifact(dir: string, bytes: Uint8Array): { sha256: string; path: string } {
  const sha = sha256(bytes);
  const file = artifactPath(dir, sha);
  if (fs.existsSync(file)) {
    readArtifact(dir, sha); // an existing file must be intact, else say so rather than trust it
    return { sha256: sha, path: file };
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  fs.writeFileSync(tmp, bytes, { flag: 'wx' });
  fs.renameSync(tmp, file);
  return { sha256: sha, path: file };
}

/** The artifact's bytes, verified against the sha256 they are filed under. */
export function readArtifact(dir: string, sha: string): Buffer {
  const file = artifactPath(dir, sha);
  if (!fs.existsSync(file)) throw new ArtifactError(`artifact ${sha} is missing from ${path.dirname(path.dirname(file))}; check ARTIFACT_DIR or restore the file`);
  const bytes = fs.readFileSync(file);
  if (sha256(bytes) !== sha) throw new ArtifactError(`artifact ${file} does not match its sha256: the file was modified or corrupted; restore it from a backup or retrain`);
  return bytes;
}
