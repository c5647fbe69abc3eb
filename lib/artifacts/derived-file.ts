/**
 * Files derived from other artifacts (a report's sections, a permutation importance, a dataset's drift
 * profile), filed under the sha256 of their bytes so that whoever is handed the sha gets exactly what
 * was written, numbers included (exact-json.ts), or nothing: a missing, modified or unreadable file
 * reads as undefined and the caller computes the value again, and filing that value again replaces
 * the damaged copy (else it was computed again at every read, the damaged file kept for good).
 */
import { sha256 } from '../../models/artifact';
import type { ArtifactStore } from './artifact-store';
import { parseExact, stringifyExact } from './exact-json';

/**
 * Files `value` under keyOf(its sha256) and returns the sha256. The same bytes again leave an intact
 * stored copy alone and replace one whose bytes no longer hash to its sha256.
 */
export async function fileDerived(artifacts: ArtifactStore, keyOf: (sha: string) => string, value: unknown): Promise<{ sha256: string }> {
  const bytes = Buffer.from(stringifyExact(value), 'utf8');
  const sha = sha256(bytes);
  await artifacts.putOrRepair(keyOf(sha), bytes, (b) => sha256(b) === sha);
  return { sha256: sha };
}

/** The value filed under `sha` when its bytes still hash to it; undefined otherwise. */
export async function readDerived(artifacts: ArtifactStore, keyOf: (sha: string) => string, sha: unknown): Promise<unknown> {
  if (typeof sha !== 'string' || !/^[0-9a-f]{64}$/.test(sha)) return undefined;
  try {
    const bytes = await artifacts.get(keyOf(sha), (b) => sha256(b) === sha);
    if (!bytes || sha256(bytes) !== sha) return undefined;
    return parseExact(bytes.toString('utf8'));
  } catch {
    return undefined; // missing or unreadable: computed again
  }
}
