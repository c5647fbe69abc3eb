/**
 * The model artifact file: a versioned, documented container that is safe to load.
 *
 *   bytes 0..3   "MLPA" magic
 *   bytes 4..7   header length N (uint32 little-endian)
 *   bytes 8..8+N header, UTF-8 JSON (schema below)
 *   then         payload: the algorithm's weights as binary (typed arrays), never code
 *   last 32      sha256 of everything before it, so a change anywhere (header included) is caught
 *
 * The header carries the feature names and order, the feature-set version, the label definition,
 * the algorithm and its payload version, the parameters and the payload's sha256. Loading checks
 * every one of them and refuses anything that does not match; nothing in a file is executed.
 * No timestamps: the same model gives the same bytes (the registry records when it was made).
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { ModelState } from './model';
import { fromLittleEndianFloat64, toLittleEndianFloat64 } from '../lib/float64-bytes';

export const ARTIFACT_FORMAT_VERSION = 1;
const MAGIC = Buffer.from('MLPA', 'ascii');

const headerSchema = z.object({
  format: z.literal('temporal-ml-pipeline/model'),
  formatVersion: z.number().int(),
  algorithm: z.string().min(1),
  algorithmVersion: z.number().int().min(1),
  featureNames: z.array(z.string()).min(1),
  featureSetVersion: z.string().min(1),
  label: z.record(z.string(), z.unknown()),
  classes: z.number().int().min(2),
  params: z.record(z.string(), z.unknown()),
  payloadBytes: z.number().int().min(0),
  payloadSha256: z.string().regex(/^[0-9a-f]{64}$/),
});
export type ArtifactHeader = z.infer<typeof headerSchema>;

export interface ArtifactContext {
  featureSetVersion: string;
  /** The label definition the model predicts (e.g. { kind: 'direction', horizon: 5 }). */
  label: Record<string, unknown>;
}

export class ArtifactError extends Error {
  override name = 'ArtifactError';
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function encodeArtifact(state: ModelState, context: ArtifactContext): Buffer {
  const header: ArtifactHeader = {
    format: 'temporal-ml-pipeline/model',
    formatVersion: ARTIFACT_FORMAT_VERSION,
    algorithm: state.algorithm,
    algorithmVersion: state.algorithmVersion,
    featureNames: [...state.featureNames],
    featureSetVersion: context.featureSetVersion,
    label: context.label,
    classes: state.classes,
    params: state.params,
    payloadBytes: state.payload.byteLength,
    payloadSha256: sha256(state.payload),
  };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32LE(json.length);
  const body = Buffer.concat([MAGIC, length, json, state.payload]);
  return Buffer.concat([body, createHash('sha256').update(body).digest()]);
}

export interface ArtifactExpectations {
  featureNames?: readonly string[];
  featureSetVersion?: string;
  algorithms?: ReadonlyMap<string, number>; // algorithm -> payload version this build can read
}

/** Parses and verifies an artifact; throws ArtifactError saying exactly what is wrong. */
export function decodeArtifact(bytes: Uint8Array, expect: ArtifactExpectations = {}): { header: ArtifactHeader; state: ModelState } {
  const whole = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (whole.length < 40 || !whole.subarray(0, 4).equals(MAGIC)) throw new ArtifactError('not a model artifact (bad magic bytes)');
  const buf = whole.subarray(0, whole.length - 32);
  if (!createHash('sha256').update(buf).digest().equals(whole.subarray(whole.length - 32))) {
    throw new ArtifactError('artifact checksum does not match: the file was modified or truncated');
  }
  const headerLength = buf.readUInt32LE(4);
  if (8 + headerLength > buf.length) throw new ArtifactError(`truncated artifact: header of ${headerLength} bytes does not fit in ${buf.length}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(buf.subarray(8, 8 + headerLength).toString('utf8'));
  } catch {
    throw new ArtifactError('artifact header is not valid JSON');
  }
  const result = headerSchema.safeParse(parsed);
  if (!result.success) throw new ArtifactError(`artifact header is invalid: ${result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const header = result.data;
  if (header.formatVersion !== ARTIFACT_FORMAT_VERSION) {
    throw new ArtifactError(`artifact format version ${header.formatVersion} is unknown to this build (it reads ${ARTIFACT_FORMAT_VERSION}); retrain or upgrade`);
  }
  const payload = buf.subarray(8 + headerLength);
  if (payload.length !== header.payloadBytes) throw new ArtifactError(`payload is ${payload.length} bytes, header says ${header.payloadBytes}: truncated or tampered`);
  if (sha256(payload) !== header.payloadSha256) throw new ArtifactError('payload sha256 does not match the header: the file was modified');
  const known = expect.algorithms?.get(header.algorithm);
  if (expect.algorithms && known === undefined) throw new ArtifactError(`unknown algorithm "${header.algorithm}"`);
  if (known !== undefined && known !== header.algorithmVersion) {
    throw new ArtifactError(`${header.algorithm} payload version ${header.algorithmVersion} is not the one this build reads (${known})`);
  }
  if (expect.featureSetVersion && expect.featureSetVersion !== header.featureSetVersion) {
    throw new ArtifactError(`model was trained on feature set ${header.featureSetVersion}, not ${expect.featureSetVersion}`);
  }
  if (expect.featureNames) {
    const a = header.featureNames;
    const b = expect.featureNames;
    const diff = a.findIndex((n, i) => n !== b[i]);
    if (a.length !== b.length || diff >= 0) {
      throw new ArtifactError(`feature order differs from the model's: ${a.length} vs ${b.length} columns, first difference at ${diff < 0 ? Math.min(a.length, b.length) : diff}`);
    }
  }
  return {
    header,
    state: { algorithm: header.algorithm, algorithmVersion: header.algorithmVersion, featureNames: header.featureNames, classes: header.classes, params: header.params, payload: new Uint8Array(payload) },
  };
}

/** Little-endian float64 packing for payloads, independent of the host's byte order. */
export function packFloat64(arrays: readonly Float64Array[]): Uint8Array {
  const buf = toLittleEndianFloat64(arrays);
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

export function unpackFloat64(payload: Uint8Array, lengths: readonly number[]): Float64Array[] {
  const expected = lengths.reduce((n, l) => n + l, 0) * 8;
  if (payload.byteLength !== expected) throw new ArtifactError(`payload holds ${payload.byteLength} bytes, the model needs ${expected}`);
  let offset = 0;
  return lengths.map((l) => {
    const a = fromLittleEndianFloat64(payload, offset, l);
    offset += l * 8;
    return a;
  });
}
