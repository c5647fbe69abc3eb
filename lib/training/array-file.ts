/**
 * Content-addressed binary files of named typed arrays plus JSON metadata: how training datasets
 * and out-of-sample predictions are handed between activities (by id, never through Temporal).
 *
 *   "MLPD" magic · uint32 LE header length · UTF-8 JSON header {meta, arrays: [name, type, length][]}
 *   · the arrays' bytes, little-endian, in header order
 *
 * The id is a prefix plus the first 128 bits of the file's sha256, so the same content always has
 * the same id and a modified file is caught when read (and replaced when the content is written again). The files live in the artifact store
 * (lib/artifacts) under <folder>/<id>.mlpd, so workers on other machines read them by id.
 */
import { createHash } from 'node:crypto';
import type { ArtifactStore } from '../artifacts/artifact-store';
import { BadInputError } from '../errors';
import { LITTLE_ENDIAN_HOST } from '../float64-bytes';

const MAGIC = Buffer.from('MLPD', 'ascii');
const TYPES = { f64: Float64Array, i32: Int32Array } as const;
type TypeName = keyof typeof TYPES;
export type StoredArray = Float64Array | Int32Array;

function typeOf(a: StoredArray): TypeName {
  return a instanceof Float64Array ? 'f64' : 'i32';
}

export function encodeArrayFile(meta: unknown, arrays: Record<string, StoredArray>): Buffer {
  if (!LITTLE_ENDIAN_HOST) throw new Error('big-endian hosts are not supported for array files');
  const entries = Object.entries(arrays);
  const header = Buffer.from(JSON.stringify({ meta, arrays: entries.map(([name, a]) => [name, typeOf(a), a.length]) }), 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32LE(header.length);
  return Buffer.concat([MAGIC, length, header, ...entries.map(([, a]) => Buffer.from(a.buffer, a.byteOffset, a.byteLength))]);
}

export function decodeArrayFile<M>(bytes: Buffer, what: string): { meta: M; arrays: Map<string, StoredArray> } {
  if (bytes.length < 8 || !bytes.subarray(0, 4).equals(MAGIC)) throw new BadInputError(`${what}: not an array file (bad magic bytes)`);
  const headerLength = bytes.readUInt32LE(4);
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8')) as { meta: M; arrays: Array<[string, TypeName, number]> };
  let offset = 8 + headerLength;
  const arrays = new Map<string, StoredArray>();
  for (const [name, type, n] of header.arrays) {
    const Type = TYPES[type];
    const size = n * Type.BYTES_PER_ELEMENT;
    if (offset + size > bytes.length) throw new BadInputError(`${what} is truncated; rebuild it`);
    arrays.set(name, new Type(new Uint8Array(bytes.subarray(offset, offset + size)).buffer)); // aligned copy
    offset += size;
  }
  if (offset !== bytes.length) throw new BadInputError(`${what} has trailing bytes; rebuild it`);
  return { meta: header.meta, arrays };
}

function idOf(prefix: string, bytes: Buffer): string {
  return `${prefix}-${createHash('sha256').update(bytes).digest('hex').slice(0, 32)}`;
}

/** The key of an array file in the artifact store: <folder>/<id>.mlpd. */
export function arrayFileKey(folder: string, prefix: string, id: string): string {
  if (!new RegExp(`^${prefix}-[0-9a-f]{32}$`).test(id)) throw new BadInputError(`"${id}" is not a ${folder} id`);
  return `${folder}/${id}.mlpd`;
}

/**
 * Writes the file under <folder>/<id>.mlpd and returns the id and where it is. A stored copy that
 * still matches its id is kept as it is; one that no longer does (a damaged disk, a hand edit) is
 * replaced whole: reading refuses it with "rebuild it", and rebuilding writes these same bytes, which
 * a write-once put left behind the damaged copy, so every later run on the same data failed.
 */
export async function writeArrayFile(store: ArtifactStore, folder: string, prefix: string, bytes: Buffer): Promise<{ id: string; url: string; stored: 'written' | 'kept' | 'replaced' }> {
  const id = idOf(prefix, bytes);
  const key = arrayFileKey(folder, prefix, id);
  const stored = await store.putOrRepair(key, bytes, (b) => idOf(prefix, b) === id);
  return { id, url: store.urlOf(key), stored };
}

/** The file's bytes, checked against the id they are filed under. */
export async function readArrayFile(store: ArtifactStore, folder: string, prefix: string, id: string): Promise<Buffer> {
  const key = arrayFileKey(folder, prefix, id);
  const bytes = await store.get(key, (b) => idOf(prefix, b) === id);
  if (!bytes) throw new BadInputError(`${id} is not in ${store.description}/${folder}; do all workers use the same ARTIFACT_URL (or a shared ARTIFACT_DIR)?`);
  if (idOf(prefix, bytes) !== id) throw new BadInputError(`${store.urlOf(key)} does not match its id: modified or corrupted; rebuild it`);
  return bytes;
}
