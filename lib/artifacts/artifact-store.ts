/**
 * Where datasets, walk-forward predictions, model artifacts and run reports are kept: one
 * interface, two back-ends.
 *
 *   local  a directory (ARTIFACT_DIR, the embedded default): <dir>/<key>
 *   s3     S3-compatible object storage (ARTIFACT_URL=s3://bucket/prefix, S3_ENDPOINT for MinIO,
 *          Ceph, R2, SeaweedFS, versitygw…): s3://bucket/prefix/<key>, through @aws-sdk/client-s3
 *          with credentials from the SDK's standard chain, plus a size-bounded read-through cache of
 *          objects on the worker's own disk
 *
 * Every key names immutable content (its hash is part of the key), so an object is written once
 * and never overwritten, and a cached copy never goes stale. The store moves bytes; the callers
 * (lib/registry/artifact-store.ts, lib/training/array-file.ts, lib/reports/version-report.ts)
 * check them against the hash they are filed under at every load, whichever back-end served them.
 * The one exception: putOrRepair replaces an object whose bytes no longer pass the caller's hash
 * check (a damaged disk, a hand edit) with the right bytes, whole, so writing the same content again
 * (a model, a dataset or predictions file, a derived file, a report) repairs it.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ARTIFACT_KEY as KEY, type ArtifactLocation } from './location';
import { GetObjectCommand, HeadBucketCommand, HeadObjectCommand, PutObjectCommand, S3ServiceException, type S3Client } from '@aws-sdk/client-s3';
import { createS3Client, endpointOf, isNotFound, s3FailureKind } from './s3-client';

export type { ArtifactLocation } from './location';

export interface ArtifactStore {
  readonly location: ArtifactLocation;
  /** For messages: the directory or s3://bucket/prefix (endpoint). */
  readonly description: string;
  /**
   * The object's bytes, or undefined when the store has no such object. `intact` is the caller's
   * hash check: a cached copy that fails it is dropped and fetched again, and a copy that fails it
   * is never cached. The caller still checks what it gets (and refuses it with its own message).
   * With `fromStore`, the store's own copy, never a cached one: what verification before serving
   * judges, since every machine without the cached copy reads that one (a cached copy stays intact
   * when the stored object is damaged or deleted). An intact stored copy refreshes the cache; a
   * cached copy is kept otherwise (it is the right content).
   */
  get(key: string, intact?: (bytes: Buffer) => boolean, options?: ReadOptions): Promise<Buffer | undefined>;
  /** Writes the object unless one exists under the key; true when this call wrote it. */
  putIfAbsent(key: string, bytes: Buffer): Promise<boolean>;
  /**
   * Writes the object unless the store already holds an intact one. `intact` is the caller's hash
   * check, applied to the store's own copy (never a cached one); an object that fails it is
   * replaced whole (local: a temporary file renamed over it; S3: one PUT, which is atomic), so a
   * reader sees the damaged bytes or the right ones, never a mix. An intact object is not touched.
   */
  putOrRepair(key: string, bytes: Buffer, intact: (bytes: Buffer) => boolean): Promise<'written' | 'kept' | 'replaced'>;
  /** Where a key is, for messages and lineage records (a file path or an s3:// URL). */
  urlOf(key: string): string;
  /**
   * Changes whenever the object under key may have changed, so an in-memory copy can be reused
   * until then: a local file's size and mtime (files can be edited in place); constant for the
   * object store, whose objects are written once.
   */
  revision(key: string): string;
}

/** How get reads an object. */
export interface ReadOptions {
  /** The store's own copy, bypassing this machine's read-through cache. */
  fromStore?: boolean;
}

function checkKey(key: string): string {
  if (!KEY.test(key) || key.split('/').some((part) => part === '..' || part === '.')) throw new Error(`"${key}" is not an artifact key (letters, digits, . _ - separated by /)`);
  return key;
}

function readIfPresent(file: string): Buffer | undefined {
  try {
    return fs.readFileSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * Writes a file once: temporary file + rename, so no reader ever sees half of it. A write that fails
 * (a full or read-only disk) removes its temporary file: nothing else would (scans skip *.tmp).
 */
function writeFileAtomically(file: string, bytes: Uint8Array): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    fs.writeFileSync(tmp, bytes, { flag: 'wx' });
    fs.renameSync(tmp, file);
  } catch (error) {
    try {
      fs.rmSync(tmp, { force: true });
    } catch {
      // the disk refuses even that: the write's own error is the one to report
    }
    throw error;
  }
}

/** A temporary file older than this was left by a writer that died mid-write (a write takes seconds at most). */
const STALE_TMP_MS = 60 * 60 * 1000;

/** Problems of the read-through cache already logged by this process (by error code): one line each, not one per object. */
const cacheProblemsLogged = new Set<string>();

/**
 * The read-through cache is an optimisation: a disk that is full, read-only or broken (ENOSPC,
 * EACCES, ENOTDIR, EISDIR…) must not make the bucket's intact objects unreadable or a stored write
 * look failed. Logged once per process and error code (stderr, one JSON line); the caller goes on
 * with the bucket's bytes.
 */
function cacheProblem(dir: string, operation: 'read' | 'write' | 'drop', key: string, error: unknown): void {
  const code = (error as NodeJS.ErrnoException | undefined)?.code ?? (error instanceof Error ? error.name : 'unknown');
  if (cacheProblemsLogged.has(code)) return;
  cacheProblemsLogged.add(code);
  const message = error instanceof Error ? error.message : String(error);
  console.error(
    JSON.stringify({
      time: new Date().toISOString(),
      event: 'artifact_cache_unusable',
      level: 'warning',
      dir,
      operation,
      key,
      code,
      error: message,
      effect: `objects are read from and written to the object store without this machine's cache (ARTIFACT_CACHE_DIR) while it fails; logged once per process for ${code}`,
    }),
  );
}

/** A directory on this machine (today's layout: <dir>/models/ab/<sha>.mlpa, <dir>/datasets/td-….mlpd, …). */
export class LocalArtifactStore implements ArtifactStore {
  readonly location: ArtifactLocation;
  readonly description: string;

  constructor(readonly dir: string) {
    this.location = { kind: 'local', dir: path.resolve(dir) };
    this.description = this.location.dir;
  }

  urlOf(key: string): string {
    return path.join(this.dir, checkKey(key));
  }

  get(key: string): Promise<Buffer | undefined> {
    return Promise.resolve(readIfPresent(this.urlOf(key)));
  }

  revision(key: string): string {
    try {
      const st = fs.statSync(this.urlOf(key));
      return `${st.size}:${st.mtimeMs}`;
    } catch {
      return 'absent';
    }
  }

  putIfAbsent(key: string, bytes: Buffer): Promise<boolean> {
    const file = this.urlOf(key);
    if (fs.existsSync(file)) return Promise.resolve(false);
    writeFileAtomically(file, bytes);
    return Promise.resolve(true);
  }

  putOrRepair(key: string, bytes: Buffer, intact: (bytes: Buffer) => boolean): Promise<'written' | 'kept' | 'replaced'> {
    const file = this.urlOf(key);
    const existing = readIfPresent(file);
    if (existing && intact(existing)) return Promise.resolve('kept');
    writeFileAtomically(file, bytes); // the rename replaces a damaged file in one step
    return Promise.resolve(existing ? 'replaced' : 'written');
  }
}

/** Removes a temporary file a writer left when it died mid-write (a live writer's is recent). */
function removeIfStale(file: string): void {
  try {
    if (Date.now() - fs.statSync(file).mtimeMs > STALE_TMP_MS) fs.rmSync(file, { force: true });
  } catch {
    // gone meanwhile, or the disk refuses: the next scan tries again
  }
}

/**
 * Immutable objects kept on this machine's disk, at most `maxBytes` in all: the least recently used
 * files go first. Several processes (and threads) may share the folder: files appear by rename,
 * and one that vanishes under a reader is a miss.
 */
export class ReadThroughCache {
  private sizes: Map<string, number> | undefined;
  private total = 0;

  constructor(
    readonly dir: string,
    readonly maxBytes: number,
  ) {}

  private fileOf(key: string): string {
    return path.join(this.dir, checkKey(key));
  }

  read(key: string): Buffer | undefined {
    const file = this.fileOf(key);
    const bytes = readIfPresent(file);
    if (bytes) {
      const now = new Date();
      try {
        fs.utimesSync(file, now, now); // recency for eviction
      } catch {
        // evicted meanwhile by another process: the bytes read are still whole
      }
    }
    return bytes;
  }

  drop(key: string): void {
    fs.rmSync(this.fileOf(key), { force: true });
    const size = this.sizes?.get(key);
    if (size !== undefined) {
      this.total -= size;
      this.sizes?.delete(key);
    }
  }

  write(key: string, bytes: Uint8Array): void {
    if (bytes.byteLength > this.maxBytes) return; // larger than the whole cache: not kept
    const file = this.fileOf(key);
    if (!fs.existsSync(file)) writeFileAtomically(file, bytes);
    const sizes = this.index();
    if (!sizes.has(key)) {
      sizes.set(key, bytes.byteLength);
      this.total += bytes.byteLength;
    }
    if (this.total > this.maxBytes) this.evict(key);
  }

  /** The bytes held now (as this process knows them). */
  get bytesHeld(): number {
    this.index();
    return this.total;
  }

  private index(): Map<string, number> {
    if (!this.sizes) {
      this.sizes = new Map();
      this.total = 0;
      for (const f of this.scan()) {
        this.sizes.set(f.key, f.size);
        this.total += f.size;
      }
    }
    return this.sizes;
  }

  private scan(): Array<{ key: string; size: number; used: number }> {
    const out: Array<{ key: string; size: number; used: number }> = [];
    const walk = (rel: string): void => {
      let entries: fs.Dirent[];
      try {
        entries = fs.readdirSync(path.join(this.dir, rel), { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        const key = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) walk(key);
        else if (e.isFile() && e.name.endsWith('.tmp')) removeIfStale(path.join(this.dir, key));
        else if (e.isFile()) {
          try {
            const st = fs.statSync(path.join(this.dir, key));
            out.push({ key, size: st.size, used: st.mtimeMs });
          } catch {
            // gone meanwhile
          }
        }
      }
    };
    walk('');
    return out;
  }

  /** Deletes the least recently used files (other processes' too: the folder is rescanned) until under the bound. */
  private evict(keep: string): void {
    const files = this.scan().sort((a, b) => a.used - b.used);
    let total = files.reduce((s, f) => s + f.size, 0);
    for (const f of files) {
      if (total <= this.maxBytes) break;
      if (f.key === keep) continue;
      fs.rmSync(path.join(this.dir, f.key), { force: true });
      total -= f.size;
    }
    this.sizes = undefined; // rebuilt from the folder at next use
    this.index();
  }
}

/** Longest a process's start waits for the bucket check (checkBucket). */
const BUCKET_CHECK_TIMEOUT_MS = 10_000;

/** S3-compatible object storage with a read-through cache on this machine's disk. */
export class S3ArtifactStore implements ArtifactStore {
  readonly description: string;
  readonly cache: ReadThroughCache;
  private readonly client: S3Client;

  constructor(readonly location: Extract<ArtifactLocation, { kind: 's3' }>) {
    this.description = `s3://${location.bucket}${location.prefix ? `/${location.prefix}` : ''}${location.endpoint ? ` at ${location.endpoint}` : ''}`;
    this.client = createS3Client(location);
    this.cache = new ReadThroughCache(location.cacheDir, location.cacheMaxBytes);
  }

  private objectKey(key: string): string {
    checkKey(key);
    return this.location.prefix ? `${this.location.prefix}/${key}` : key;
  }

  urlOf(key: string): string {
    return `s3://${this.location.bucket}/${this.objectKey(key)}`;
  }

  revision(key: string): string {
    return this.urlOf(key); // written once: the object under a key never changes
  }

  /** A cache operation that cannot fail the store's: on error, logged (once) and skipped. */
  private withCache<T>(operation: 'read' | 'write' | 'drop', key: string, run: () => T): T | undefined {
    try {
      return run();
    } catch (error) {
      cacheProblem(this.cache.dir, operation, key, error);
      return undefined;
    }
  }

  /** What a missing bucket is: the configuration's fault, never a missing object. */
  private noBucket(error: unknown): Error {
    return new Error(`object store ${this.description}: bucket ${this.location.bucket} does not exist at ${endpointOf(this.location)}; check the bucket in ARTIFACT_URL and S3_ENDPOINT, or create the bucket`, { cause: error });
  }

  private failure(what: string, key: string, error: unknown): Error {
    if (s3FailureKind(error) === 'no_bucket') return this.noBucket(error);
    const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    return new Error(`object store ${this.description}: ${what} ${this.urlOf(key)} failed (${reason}); check ARTIFACT_URL, S3_ENDPOINT and the credentials`, { cause: error });
  }

  /**
   * Refuses a bucket that does not exist (HeadBucket answers 404), so a process configured with a
   * wrong bucket name stops at start with that message rather than report every artifact missing.
   * Any other answer passes: a store down for a moment is retried by each request, and credentials
   * without s3:ListBucket (which HeadBucket needs) may still read and write objects.
   */
  async checkBucket(): Promise<void> {
    try {
      // Bounded: a store that does not answer delays the start this long at most, not the requests' retries.
      await this.client.send(new HeadBucketCommand({ Bucket: this.location.bucket }), { abortSignal: AbortSignal.timeout(BUCKET_CHECK_TIMEOUT_MS) });
    } catch (error) {
      const kind = s3FailureKind(error);
      if (kind === 'no_bucket' || kind === 'not_found') throw this.noBucket(error);
    }
  }

  /** The object from the store itself, bypassing the cache (undefined when absent). */
  async fetch(key: string): Promise<Buffer | undefined> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.location.bucket, Key: this.objectKey(key) }));
      if (!out.Body) return Buffer.alloc(0);
      return Buffer.from(await out.Body.transformToByteArray());
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw this.failure('GET', key, error);
    }
  }

  async get(key: string, intact?: (bytes: Buffer) => boolean, options: ReadOptions = {}): Promise<Buffer | undefined> {
    const cached = options.fromStore ? undefined : this.withCache('read', key, () => this.cache.read(key));
    if (cached) {
      if (!intact || intact(cached)) return cached;
      this.withCache('drop', key, () => this.cache.drop(key)); // damaged on this disk: the store's copy decides
    }
    const bytes = await this.fetch(key);
    if (bytes && (!intact || intact(bytes))) this.withCache('write', key, () => this.cache.write(key, bytes));
    return bytes;
  }

  async exists(key: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.location.bucket, Key: this.objectKey(key) }));
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw this.failure('HEAD', key, error);
    }
  }

  async putIfAbsent(key: string, bytes: Buffer): Promise<boolean> {
    if (await this.exists(key)) return false;
    try {
      // If-None-Match: * makes the write conditional where the server supports it, so an object is never replaced
      await this.client.send(new PutObjectCommand({ Bucket: this.location.bucket, Key: this.objectKey(key), Body: bytes, ContentLength: bytes.byteLength, IfNoneMatch: '*' }));
    } catch (error) {
      if (error instanceof S3ServiceException && (error.$metadata.httpStatusCode === 412 || error.name === 'PreconditionFailed')) return false;
      throw this.failure('PUT', key, error);
    }
    this.withCache('write', key, () => this.cache.write(key, bytes)); // the writer is usually the next reader
    return true;
  }

  async putOrRepair(key: string, bytes: Buffer, intact: (bytes: Buffer) => boolean): Promise<'written' | 'kept' | 'replaced'> {
    const existing = await this.fetch(key); // the store's copy: a cached one may be intact while the store's is not
    if (existing && intact(existing)) return 'kept';
    if (!existing) {
      if (await this.putIfAbsent(key, bytes)) return 'written';
      // Another writer got there first: judge what it wrote.
      const raced = await this.fetch(key);
      if (raced && intact(raced)) return 'kept';
    }
    try {
      // A plain PUT replaces the object atomically: readers get the old bytes or the new ones.
      await this.client.send(new PutObjectCommand({ Bucket: this.location.bucket, Key: this.objectKey(key), Body: bytes, ContentLength: bytes.byteLength }));
    } catch (error) {
      throw this.failure('PUT', key, error);
    }
    this.withCache('drop', key, () => this.cache.drop(key));
    this.withCache('write', key, () => this.cache.write(key, bytes));
    return 'replaced';
  }

  destroy(): void {
    this.client.destroy();
  }
}

/** At a process's start: refuses an object store whose bucket does not exist (S3ArtifactStore.checkBucket); a local directory passes. */
export async function checkArtifactStore(store: ArtifactStore): Promise<void> {
  if (store instanceof S3ArtifactStore) await store.checkBucket();
}

const opened = new Map<string, ArtifactStore>();

/** The store at `location`; one instance per location and process (or thread). */
export function openArtifactStore(location: ArtifactLocation): ArtifactStore {
  const id = JSON.stringify(location);
  let store = opened.get(id);
  if (!store) {
    store = location.kind === 'local' ? new LocalArtifactStore(location.dir) : new S3ArtifactStore(location);
    opened.set(id, store);
  }
  return store;
}

/** The local-directory store at `dir` (ARTIFACT_DIR). */
export function localArtifactStore(dir: string): ArtifactStore {
  return openArtifactStore({ kind: 'local', dir: path.resolve(dir) });
}
