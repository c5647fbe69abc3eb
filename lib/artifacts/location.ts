/**
 * Where the artifacts are (lib/config.ts builds it from ARTIFACT_DIR / ARTIFACT_URL): kept apart
 * from the back-ends so that reading the configuration does not load the S3 client.
 */

/** Keys and prefixes: letters, digits, . _ - separated by /. */
export const ARTIFACT_KEY = /^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)*$/;

/** Where the artifacts are: structured-cloneable, so worker threads open the same store. */
export type ArtifactLocation =
  | { kind: 'local'; dir: string }
  | {
      kind: 's3';
      bucket: string;
      /** Key prefix inside the bucket, without leading or trailing slash ('' for the bucket root). */
      prefix: string;
      /** S3_ENDPOINT: an S3-compatible server (undefined: AWS S3 itself). */
      endpoint?: string;
      region: string;
      forcePathStyle: boolean;
      /** S3_CONNECT_TIMEOUT_MS and S3_IDLE_TIMEOUT_MS (undefined: lib/artifacts/s3-client.ts's defaults). */
      connectTimeoutMs?: number;
      idleTimeoutMs?: number;
      /** The read-through cache of this machine and its size bound in bytes. */
      cacheDir: string;
      cacheMaxBytes: number;
    };

/** Parses ARTIFACT_URL: s3://bucket[/prefix]. */
export function parseS3Url(url: string): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(url);
  if (!m) throw new Error(`"${url}" is not an s3://bucket[/prefix] URL (bucket: 3-63 lower-case letters, digits, dots, hyphens)`);
  const prefix = (m[2] ?? '').replace(/^\/+|\/+$/g, '');
  if (prefix && !ARTIFACT_KEY.test(prefix)) throw new Error(`"${url}": the prefix "${prefix}" may hold only letters, digits, . _ - separated by /`);
  return { bucket: m[1], prefix };
}
