/**
 * The model registry: immutable, numbered versions per model name (metadata in the relational
 * store, artifact bytes content-addressed in the artifact store) and aliases such as `champion` and
 * `challenger` whose every move is appended to a history. With a signing key (MODEL_SIGNING_KEY,
 * passed as RowSigning), each version's row is signed at registration and the signature checked by
 * every verification (lib/registry/row-signature.ts).
 */
import { decodeArtifact, sha256 as sha256Of } from '../../models/artifact';
import { ALGORITHM_VERSIONS, loadModelRuntimes, restoreModel } from '../../models/algorithms';
import type { TrainedModel } from '../../models/model';
import { BadInputError } from '../errors';
import type { Database } from '../store/database';
import type { Transaction } from 'kysely';
import type { DatabaseSchema, ModelVersionsTable } from '../store/schema';
import type { ArtifactStore } from '../artifacts/artifact-store';
import { putArtifact } from './artifact-store';
import { canonicalJson, recordedFieldMismatch } from './recorded-fields';
import { NO_ROW_SIGNING, REPORT_RECORD_KEYS, REPORT_RECORD_SIGNATURE_KEY, reportRecordCheck, reportRecordProblem, reportRecordSignatureOf, rowSignatureCheck, rowSignatureProblem, signingKeyId, signReportRecord, signRow, verificationKeysOf, type RowSignature, type RowSigning, type SignatureCheck } from './row-signature';
import { aliasRecordProblem, signAliasMoveRecord, signAliasRecord, storedSignatureOf } from './serving-record-signature';
import { featureOrderProblem, verifyModelArtifact, type VerifiedArtifact } from './verify-artifact';
import { servingVeto } from './promotion';

/** The registry refuses the request (unknown version or alias, taken version, bad name): retrying cannot help. */
export class RegistryError extends BadInputError {
  override name = 'RegistryError';
  constructor(message: string) {
    super(message, 'REGISTRY_REJECTED');
  }
}

/** A version whose evaluation vetoed it (lib/registry/promotion.ts servingVeto) asked to take traffic. */
export class ServingVetoError extends RegistryError {
  override name = 'ServingVetoError';
  constructor(
    readonly model: string,
    readonly version: number,
    readonly reason: string,
  ) {
    super(`${model} v${version} must not be served: its evaluation recorded ${reason}. Train a new version without the cause; nothing was routed to this one`);
  }
}

/** Throws ServingVetoError when the version's recorded evaluation vetoes serving it. */
export function assertServable(version: ModelVersion): void {
  const veto = servingVeto(version.metrics);
  if (veto !== undefined) throw new ServingVetoError(version.name, version.version, veto);
}

export const MODEL_ALIASES = ['champion', 'challenger', 'canary', 'shadow'] as const;
export type ModelAlias = (typeof MODEL_ALIASES)[number];

export interface ModelVersion {
  name: string;
  version: number;
  artifactSha256: string;
  artifactBytes: number;
  algorithm: string;
  params: Record<string, unknown>;
  seed: number;
  featureSetVersion: string;
  label: Record<string, unknown>;
  snapshotId: string | null;
  snapshotHash: string | null;
  codeVersion: string;
  workflowId: string | null;
  runId: string | null;
  registrationKey: string;
  metrics: Record<string, unknown>;
  /** Anything else that explains where the model came from (experiment, trials, data range). */
  lineage: Record<string, unknown>;
  createdAt: string;
  /**
   * The row's signature (lib/registry/row-signature.ts), when it was registered or signed with a
   * signing key; absent otherwise. Verification with a key refuses a version without a valid one.
   */
  signature?: RowSignature;
}

export interface RegisterModelInput extends Omit<ModelVersion, 'version' | 'artifactSha256' | 'artifactBytes' | 'createdAt' | 'signature'> {
  artifact: Uint8Array;
  /** Normally omitted (next number); given when importing a known version. */
  version?: number;
}

/**
 * A registry row whose stored JSON cannot be read (not JSON, or not the object registration writes):
 * only a hand edit makes one, so it is refused as an edited row is (serving withdraws the version,
 * a deployment treats it as unverified), not thrown as a SyntaxError a caller takes for an
 * unreadable store and retries.
 */
export class UnreadableVersionRowError extends RegistryError {
  override name = 'UnreadableVersionRowError';
  constructor(
    readonly model: string,
    readonly version: number,
    readonly column: string,
    problem: string,
  ) {
    super(`${model} v${version}'s registry row cannot be read: its ${column} ${problem}; the row was edited after registration (registration writes a JSON object): restore it or register a new version`);
  }
}

/** A stored row as a ModelVersion (its JSON columns parsed); UnreadableVersionRowError when one is not the JSON object registration writes. */
export function toVersion(row: ModelVersionsTable): ModelVersion {
  const json = (column: 'params' | 'label' | 'metrics' | 'lineage'): Record<string, unknown> => {
    let value: unknown;
    try {
      value = JSON.parse(row[column]);
    } catch (error) {
      throw new UnreadableVersionRowError(row.name, Number(row.version), column, `is not JSON (${(error as Error).message})`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new UnreadableVersionRowError(row.name, Number(row.version), column, `is ${value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`}, not a JSON object`);
    return value as Record<string, unknown>;
  };
  return {
    name: row.name,
    version: Number(row.version),
    artifactSha256: row.artifact_sha256,
    artifactBytes: Number(row.artifact_bytes),
    algorithm: row.algorithm,
    params: json('params'),
    seed: Number(row.seed),
    featureSetVersion: row.feature_set_version,
    label: json('label'),
    snapshotId: row.snapshot_id,
    snapshotHash: row.snapshot_hash,
    codeVersion: row.code_version,
    workflowId: row.workflow_id,
    runId: row.run_id,
    registrationKey: row.registration_key,
    metrics: json('metrics'),
    lineage: json('lineage'),
    createdAt: row.created_at,
    ...(row.signature !== null ? { signature: { keyId: row.signature_key_id ?? '(none)', mac: row.signature } } : {}),
  };
}

const NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/**
 * Registers a new version (artifact verified, checked against what the registration records, and
 * stored first). Idempotent on the registration key: a retried registration returns the version the
 * first attempt made, and repairs its stored artifact if that copy was damaged since. With a signing
 * key the new row is stored with its signature (a retried registration leaves the first row as it is).
 */
export async function registerModel(store: Database, artifacts: ArtifactStore, input: RegisterModelInput, signing: RowSigning = NO_ROW_SIGNING): Promise<ModelVersion> {
  if (!NAME.test(input.name)) throw new RegistryError(`model name "${input.name}" is invalid: use lower-case letters, digits, ".", "_" or "-" (at most 64)`);
  const existing = await store.db.selectFrom('model_versions').selectAll().where('registration_key', '=', input.registrationKey).executeTakeFirst();
  if (existing) {
    // A retried registration sends the same model; other bytes under the same key are another model, never silently the first.
    const sent = sha256Of(input.artifact);
    if (existing.artifact_sha256 !== sent) throw new RegistryError(`registration key ${input.registrationKey} already registered ${existing.name} v${existing.version} with artifact ${existing.artifact_sha256.slice(0, 12)}…; this artifact is ${sent.slice(0, 12)}…: a retried registration must send the same model`);
    // The same bytes the version was registered with (they hash to its sha256): a stored copy that was damaged since is repaired.
    await putArtifact(artifacts, input.artifact);
    return toVersion(existing);
  }
  const { header, state } = decodeArtifact(input.artifact, { algorithms: ALGORITHM_VERSIONS });
  // The row must describe the model it points at: algorithm, feature set, label and every parameter it states (lib/registry/recorded-fields.ts).
  const mismatch = recordedFieldMismatch(input, header, 'registration');
  if (mismatch) throw new RegistryError(`artifact cannot be registered: ${mismatch}`);
  // Its feature set must be in the store (as this code stores it) and the model's feature names, in
  // order, its column order, as verification (hence serving) requires: else the version is
  // registered, even made champion, and never served.
  const order = await featureOrderProblem(store, input.featureSetVersion, header.featureNames);
  if (order) throw new RegistryError(`artifact cannot be registered: ${order}; nothing was stored`);
  // The model must restore, as every loader restores it: a payload of the wrong size or a parameter
  // that can never be valid (a NaN or infinite weight, a zero scale) is refused here, before it is stored.
  await loadModelRuntimes();
  try {
    restoreModel(state);
  } catch (error) {
    throw new RegistryError(`artifact cannot be registered: its model does not restore: ${(error as Error).message}`);
  }
  if (input.version !== undefined) {
    // Before the artifact is stored: a refused number leaves nothing behind.
    if (!Number.isSafeInteger(input.version) || input.version < 1) throw new RegistryError(`model ${input.name} version ${input.version} is not a version number: versions are whole numbers from 1`);
    const taken = await getModelVersion(store, input.name, input.version).catch(() => undefined);
    if (taken) throw new RegistryError(`model ${input.name} version ${input.version} already exists; versions are immutable, register a new one`);
    // Before, only a stored row counted: a number whose row was deleted while an alias, a route or a
    // deployment still named it went to the new model, which then served there undeployed.
    const highest = await highestVersionNamed(store, input.name);
    if (input.version <= highest) throw new RegistryError(`model ${input.name} version ${input.version} is at or below v${highest}, the highest number its aliases, routes, deployments, challenges or rows have named: a new model under it would take the place of the one they named; register without a version (it gets v${highest + 1})`);
  }
  const { sha256 } = await putArtifact(artifacts, input.artifact);
  for (let attempt = 0; ; attempt++) {
    // Never a number anything already names: a deleted row's number given to a new model would make
    // the routes, aliases and deployments that named the old one serve the new one, undeployed.
    const version = input.version ?? (await highestVersionNamed(store, input.name)) + 1;
    try {
      const row: ModelVersionsTable = {
        name: input.name,
        version,
        artifact_sha256: sha256,
        artifact_bytes: input.artifact.byteLength,
        algorithm: input.algorithm,
        params: JSON.stringify(input.params),
        seed: input.seed,
        feature_set_version: input.featureSetVersion,
        label: JSON.stringify(input.label),
        snapshot_id: input.snapshotId,
        snapshot_hash: input.snapshotHash,
        code_version: input.codeVersion,
        workflow_id: input.workflowId,
        run_id: input.runId,
        registration_key: input.registrationKey,
        metrics: JSON.stringify(input.metrics),
        lineage: JSON.stringify(input.lineage),
        created_at: new Date().toISOString(),
        signature: null,
        signature_key_id: null,
      };
      // Signed as it will be read back (JSON fields parsed from their stored text), so verification recomputes the same text.
      if (signing.signingKey !== undefined) {
        const signature = signRow(signing.signingKey, toVersion(row));
        row.signature = signature.mac;
        row.signature_key_id = signature.keyId;
      }
      await store.db.insertInto('model_versions').values(row).execute();
      return toVersion(row);
    } catch (error) {
      // Two registrations raced for the same number (or key): look again, at most a few times.
      const raced = await store.db.selectFrom('model_versions').selectAll().where('registration_key', '=', input.registrationKey).executeTakeFirst();
      if (raced) return toVersion(raced);
      if (attempt >= 4 || input.version !== undefined) throw error;
    }
  }
}

/**
 * The highest version number of `name` that anything names: its registry rows, its aliases and their
 * history, its serving routes and their history (routes and shadow), its deployments and its recorded
 * challenges; 0 when none. A registry row can be deleted, but what named its number still does, so a
 * new registration must get a number above all of them.
 */
export async function highestVersionNamed(store: Database, name: string): Promise<number> {
  const { db } = store;
  const maxOf = async (query: Promise<Array<{ v: unknown }>>): Promise<number> => Math.max(0, ...(await query).map((r) => Number(r.v ?? 0)).filter(Number.isFinite));
  const numbers = await Promise.all([
    maxOf(db.selectFrom('model_versions').select((eb) => eb.fn.max('version').as('v')).where('name', '=', name).execute()),
    maxOf(db.selectFrom('model_aliases').select((eb) => eb.fn.max('version').as('v')).where('name', '=', name).execute()),
    maxOf(db.selectFrom('model_alias_history').select((eb) => eb.fn.max('from_version').as('v')).where('name', '=', name).execute()),
    maxOf(db.selectFrom('model_alias_history').select((eb) => eb.fn.max('to_version').as('v')).where('name', '=', name).execute()),
    maxOf(db.selectFrom('deployments').select((eb) => eb.fn.max('champion_version').as('v')).where('model', '=', name).execute()),
    maxOf(db.selectFrom('deployments').select((eb) => eb.fn.max('challenger_version').as('v')).where('model', '=', name).execute()),
    maxOf(db.selectFrom('promotion_challenges').select((eb) => eb.fn.max('champion_version').as('v')).where('model', '=', name).execute()),
    maxOf(db.selectFrom('promotion_challenges').select((eb) => eb.fn.max('challenger_version').as('v')).where('model', '=', name).execute()),
    // What monitoring keeps of a version: a reused number inherited a deleted version's drift
    // reference profile (another model's training data) and its logged predictions and reports.
    maxOf(db.selectFrom('model_reference_profiles').select((eb) => eb.fn.max('version').as('v')).where('name', '=', name).execute()),
    maxOf(db.selectFrom('monitoring_reports').select((eb) => eb.fn.max('version').as('v')).where('model', '=', name).execute()),
    maxOf(db.selectFrom('prediction_outcomes').select((eb) => eb.fn.max('version').as('v')).where('model', '=', name).execute()),
    maxOf(db.selectFrom('prediction_log').select((eb) => eb.fn.max('version').as('v')).where('model', '=', name).execute()),
  ]);
  const routes = [
    ...(await db.selectFrom('serving_routes').select('routes').where('model', '=', name).execute()),
    ...(await db.selectFrom('serving_route_history').select('routes').where('model', '=', name).execute()),
  ];
  for (const { routes: text } of routes) numbers.push(...versionsInRoutes(text));
  return Math.max(0, ...numbers);
}

/** The version numbers a stored routes text names (routes and shadow); none when it cannot be read. */
function versionsInRoutes(text: string): number[] {
  let split: { routes?: Array<{ version?: unknown }>; shadow?: { version?: unknown } } | null;
  try {
    split = JSON.parse(text) as typeof split;
  } catch {
    return [];
  }
  const found = [...(Array.isArray(split?.routes) ? split.routes.map((r) => r?.version) : []), split?.shadow?.version];
  return found.filter((v): v is number => typeof v === 'number' && Number.isInteger(v) && v > 0);
}

/** What makes two registrations the same result: same model bytes from the same data, recipe and experiment. */
export interface RegistrationIdentity {
  name: string;
  artifactSha256: string;
  params: Record<string, unknown>;
  seed: number;
  featureSetVersion: string;
  label: Record<string, unknown>;
  datasetId: string;
  experiment: unknown;
}

/**
 * An earlier version that is the same result as this one (same artifact sha256, dataset, parameters,
 * seed, label, feature set and experiment): re-running an identical pipeline must not register it again.
 */
export async function findIdenticalVersion(store: Database, id: RegistrationIdentity): Promise<ModelVersion | undefined> {
  const rows = await store.db.selectFrom('model_versions').selectAll().where('name', '=', id.name).where('artifact_sha256', '=', id.artifactSha256).orderBy('version').execute();
  return rows.map(toVersion).find(
    (v) =>
      canonicalJson(v.params) === canonicalJson(id.params) &&
      v.seed === id.seed &&
      v.featureSetVersion === id.featureSetVersion &&
      canonicalJson(v.label) === canonicalJson(id.label) &&
      v.lineage.datasetId === id.datasetId &&
      canonicalJson(v.lineage.experiment) === canonicalJson(id.experiment),
  );
}

/**
 * The last decision day a version learnt from (its lineage's trainedThrough, recorded by the
 * training pipeline), or undefined when its lineage does not say (versions registered by hand or
 * before it was kept). A prediction dated on or before it may be one of its training rows.
 */
export function trainedThroughOf(v: ModelVersion): string | undefined {
  const through = v.lineage.trainedThrough;
  return typeof through === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(through) ? through : undefined;
}

export async function getModelVersion(store: Database, name: string, version: number): Promise<ModelVersion> {
  const row = await store.db.selectFrom('model_versions').selectAll().where('name', '=', name).where('version', '=', version).executeTakeFirst();
  if (!row) throw new RegistryError(`model ${name} has no version ${version}; see \`models list\``);
  return toVersion(row);
}

/** Whether name has a registry row of this version: an alias can name one deleted by hand. */
export async function versionExists(store: Database, name: string, version: number): Promise<boolean> {
  return (await store.db.selectFrom('model_versions').select('version').where('name', '=', name).where('version', '=', version).executeTakeFirst()) !== undefined;
}

export async function listModelVersions(store: Database, name?: string): Promise<ModelVersion[]> {
  let q = store.db.selectFrom('model_versions').selectAll();
  if (name) q = q.where('name', '=', name);
  return (await q.orderBy('name').orderBy('version').execute()).map(toVersion);
}

/** The version an alias points at, or undefined when it is not set. */
export async function aliasVersion(store: Database, name: string, alias: ModelAlias): Promise<number | undefined> {
  const row = await store.db.selectFrom('model_aliases').select('version').where('name', '=', name).where('alias', '=', alias).executeTakeFirst();
  return row ? Number(row.version) : undefined;
}

/** "3", "v3", "champion" → a version number. */
export async function resolveVersion(store: Database, name: string, ref: string): Promise<number> {
  if (/^v?\d+$/.test(ref)) return Number(ref.replace(/^v/, ''));
  if (!(MODEL_ALIASES as readonly string[]).includes(ref)) throw new RegistryError(`"${ref}" is neither a version number nor an alias (${MODEL_ALIASES.join(', ')})`);
  const version = await aliasVersion(store, name, ref as ModelAlias);
  if (version === undefined) throw new RegistryError(`model ${name} has no ${ref}`);
  return version;
}

export interface AliasMove {
  name: string;
  alias: ModelAlias;
  /** undefined clears the alias. */
  version: number | undefined;
  movedBy: string;
  reason: string;
  /**
   * Moved only while this alias (the moved one by default) points at this version (null: at none),
   * read under a lock in the move's transaction; otherwise AliasMovedError and nothing moves. A
   * promotion judged against the champion it read must not land over one that arrived meanwhile.
   */
  expected?: { alias?: ModelAlias; version: number | null };
}

/** A conditional alias move (AliasMove.expected) found the alias elsewhere: nothing was moved. */
export class AliasMovedError extends RegistryError {
  override name = 'AliasMovedError';
  constructor(
    readonly model: string,
    readonly alias: ModelAlias,
    readonly expected: number | null,
    readonly found: number | null,
  ) {
    super(`the ${alias} alias of ${model} is at ${found === null ? 'no version' : `v${found}`}, not ${expected === null ? 'unset' : `v${expected}`} as expected: nothing was moved`);
  }
}

/**
 * Points an alias at a version (or clears it) and appends the move to the history, atomically.
 * `signing`: the deployment's MODEL_SIGNING_KEY, which signs the alias row and the history row
 * (lib/registry/serving-record-signature.ts); without it a move over a signed alias is refused.
 */
export async function moveAlias(store: Database, move: AliasMove, signing: RowSigning = NO_ROW_SIGNING): Promise<void> {
  if (move.version !== undefined) await getModelVersion(store, move.name, move.version);
  await store.db.transaction().execute((tx) => moveAliasIn(tx, store.driver, move, signing));
}

/**
 * The version an alias points at inside the caller's transaction (undefined: not set): a locking
 * read on MySQL, the alias as committed now and held until the transaction ends (a SQLite write
 * transaction is alone), so what the caller writes next is judged against the alias it lands on.
 */
export async function aliasVersionIn(tx: Transaction<DatabaseSchema>, driver: Database['driver'], name: string, alias: ModelAlias): Promise<number | undefined> {
  let q = tx.selectFrom('model_aliases').select('version').where('name', '=', name).where('alias', '=', alias);
  if (driver === 'mysql') q = q.forUpdate();
  const row = await q.executeTakeFirst();
  return row ? Number(row.version) : undefined;
}

/**
 * moveAlias inside the caller's transaction (the version's row is the caller's to check): a
 * promotion or rollback moves the champion alias in the transaction that writes its routes
 * (lib/serving/serving-routes.ts), so the two never disagree whoever writes between them.
 */
export async function moveAliasIn(tx: Transaction<DatabaseSchema>, driver: Database['driver'], move: AliasMove, signing: RowSigning = NO_ROW_SIGNING): Promise<void> {
  const at = async (alias: ModelAlias) => (await aliasVersionIn(tx, driver, move.name, alias)) ?? null;
  if (move.expected) {
    const alias = move.expected.alias ?? move.alias;
    const found = await at(alias);
    if (found !== move.expected.version) throw new AliasMovedError(move.name, alias, move.expected.version, found);
  }
  const from = await at(move.alias);
  const key = signing.signingKey;
  const stored = await tx.selectFrom('model_aliases').select(['signature', 'signature_key_id', 'seq']).where('name', '=', move.name).where('alias', '=', move.alias).executeTakeFirst();
  const lastMove = await tx.selectFrom('model_alias_history').select('signature').where('name', '=', move.name).where('alias', '=', move.alias).orderBy('seq', 'desc').limit(1).executeTakeFirst();
  if (key === undefined && (stored?.signature || lastMove?.signature)) {
    throw new RegistryError(
      `the ${move.alias} alias of ${move.name} was not moved: it is signed and this move has no MODEL_SIGNING_KEY, so it would leave an unsigned alias, which monitoring reports as tampered. Run it with the deployment's MODEL_SIGNING_KEY`,
    );
  }
  // Already there: nothing moved, nothing to record; with the key, an alias it did not sign (set
  // before aliases were signed, or signed by a previous key) is recorded again (a move to where it
  // is), signed by the current key.
  const signedByKey = (k: string) =>
    stored !== undefined && from !== null && stored.signature_key_id === signingKeyId(k) && stored.seq !== null && stored.seq !== undefined && aliasRecordProblem(k, { name: move.name, alias: move.alias, version: from, seq: Number(stored.seq) }, storedSignatureOf(stored)) === undefined;
  if (from === (move.version ?? null) && (key === undefined || from === null || signedByKey(key))) return;
  const last = await tx.selectFrom('model_alias_history').select((eb) => eb.fn.max('seq').as('s')).where('name', '=', move.name).executeTakeFirst();
  const seq = Number(last?.s ?? 0) + 1;
  await tx.deleteFrom('model_aliases').where('name', '=', move.name).where('alias', '=', move.alias).execute();
  if (move.version !== undefined) {
    const signature = key === undefined ? undefined : signAliasRecord(key, { name: move.name, alias: move.alias, version: move.version, seq });
    await tx
      .insertInto('model_aliases')
      .values({ name: move.name, alias: move.alias, version: move.version, seq, signature: signature?.mac ?? null, signature_key_id: signature?.keyId ?? null })
      .execute();
  }
  const entry = { name: move.name, seq, alias: move.alias, fromVersion: from, toVersion: move.version ?? null, movedBy: move.movedBy, reason: move.reason, movedAt: new Date().toISOString() };
  const signature = key === undefined ? undefined : signAliasMoveRecord(key, entry);
  await tx
    .insertInto('model_alias_history')
    .values({ name: entry.name, seq, alias: entry.alias, from_version: entry.fromVersion, to_version: entry.toVersion, moved_by: entry.movedBy, reason: entry.reason, moved_at: entry.movedAt, signature: signature?.mac ?? null, signature_key_id: signature?.keyId ?? null })
    .execute();
}

export interface AliasHistoryEntry {
  /** The move's number in the model's history (model_alias_history.seq), oldest first. */
  seq: number;
  alias: string;
  fromVersion: number | null;
  toVersion: number | null;
  movedBy: string;
  reason: string;
  movedAt: string;
}

export async function aliasHistory(store: Database, name: string): Promise<AliasHistoryEntry[]> {
  const rows = await store.db.selectFrom('model_alias_history').selectAll().where('name', '=', name).orderBy('seq').execute();
  return rows.map((r) => ({ seq: Number(r.seq), alias: r.alias, fromVersion: r.from_version === null ? null : Number(r.from_version), toVersion: r.to_version === null ? null : Number(r.to_version), movedBy: r.moved_by, reason: r.reason, movedAt: r.moved_at }));
}

/**
 * Loads a registered model as the serving loader does: the model verifyModelArtifact restored, after
 * every check it makes (sha256, header, feature set and order, classes, parameters), so loading and
 * verifying a version refuse the same versions with the same messages.
 */
export async function loadRegisteredModel(store: Database, artifacts: ArtifactStore, name: string, version: number, signing: RowSigning = NO_ROW_SIGNING): Promise<{ version: ModelVersion; model: TrainedModel }> {
  const { version: v, model } = await verifyRegisteredVersion(store, artifacts, name, version, signing);
  return { version: v, model };
}

/**
 * A registered version whose artifact passes verification (lib/registry/verify-artifact.ts), else
 * the error saying why not. `signing`: the deployment's MODEL_SIGNING_KEY; with it, a row without
 * its valid signature is refused first.
 */
export async function verifyRegisteredVersion(store: Database, artifacts: ArtifactStore, name: string, version: number, signing: RowSigning = NO_ROW_SIGNING): Promise<{ version: ModelVersion } & VerifiedArtifact> {
  const v = await getModelVersion(store, name, version);
  return { version: v, ...(await verifyModelArtifact(store, artifacts, v, { signingKey: signing.signingKey, previousKeys: signing.previousKeys })) };
}

/** What repairVersionArtifact did: the store's copy was missing (written), damaged (replaced) or intact (kept, nothing written). */
export interface RepairedArtifact {
  version: ModelVersion;
  stored: 'written' | 'kept' | 'replaced';
  /** Where the object is (a file path or an s3:// URL). */
  url: string;
}

/**
 * Writes a registered version's artifact back into the artifact store from a copy (a backup, a
 * host's read-through cache) when the stored object is damaged or missing: the way to repair it
 * without re-running the registration. Only the exact bytes the version was registered with are
 * accepted: their sha256 and size must be the row's (else RegistryError naming both, nothing
 * written), and with a signing key the row's signature must hold first, so an edited row cannot
 * make other bytes "the registered ones". An intact stored copy is never rewritten (putArtifact).
 * The version is then verified as serving verifies it (ArtifactVerificationError when something
 * other than the bytes keeps it from serving, e.g. its feature set; the repaired bytes stay).
 */
export async function repairVersionArtifact(store: Database, artifacts: ArtifactStore, name: string, version: number, bytes: Uint8Array, signing: RowSigning = NO_ROW_SIGNING): Promise<RepairedArtifact> {
  const v = await getModelVersion(store, name, version);
  const keys = verificationKeysOf(signing);
  if (keys !== undefined) {
    const problem = rowSignatureProblem(keys, v);
    if (problem) throw new RegistryError(`${name} v${version}'s artifact was not repaired: ${problem}; nothing was written`);
  }
  const sent = sha256Of(bytes);
  if (sent !== v.artifactSha256 || bytes.byteLength !== v.artifactBytes) {
    throw new RegistryError(`${name} v${version}'s artifact was not repaired: the file given has sha256 ${sent} (${bytes.byteLength} bytes), the version was registered with ${v.artifactSha256} (${v.artifactBytes} bytes): it is not that version's model; nothing was written`);
  }
  const { stored, url } = await putArtifact(artifacts, bytes);
  await verifyModelArtifact(store, artifacts, v, { signingKey: signing.signingKey, previousKeys: signing.previousKeys });
  return { version: v, stored, url };
}

export interface SignedVersion {
  version: ModelVersion;
  signature: RowSignature;
  /** What the row carried before (SignedBefore). */
  before: SignedBefore;
}

/**
 * What a re-signed row or record carried before: no signature, the current key's (signing again
 * changed nothing), a previous key's (MODEL_SIGNING_PREVIOUS_KEYS: a rotation, now signed with the
 * current key), or one no key confirms (with the reason: accepted with --accept-edit).
 */
export type SignedBefore = { state: 'unsigned' } | { state: 'valid' } | { state: 'previous_key'; keyId: string } | { state: 'invalid'; reason: string };

/** SignedBefore from a signature's check under the current and previous keys. */
function signedBefore(signed: boolean, check: SignatureCheck): SignedBefore {
  if (!signed) return { state: 'unsigned' };
  if (check.problem !== undefined) return { state: 'invalid', reason: check.problem };
  return check.previousKeyId !== undefined ? { state: 'previous_key', keyId: check.previousKeyId } : { state: 'valid' };
}

/**
 * Signs a version's row with the signing key, after every check verification makes but the
 * signature's (artifact sha256 and size, header against the row, feature set and order, classes,
 * restore): for rows registered before the key was set, or after a key rotation. Refused without a
 * key, or when a check fails (ArtifactVerificationError), or when the row changed while it was checked,
 * and, unless `acceptEdit`, when no key confirms the row as it is: neither this key nor one of
 * `signing.previousKeys` (unsigned rows, rows edited since, rows naming a key nobody gave).
 * Signing vouches for the row as it is now: whoever runs it should have checked the row first.
 */
export async function signModelVersion(store: Database, artifacts: ArtifactStore, name: string, version: number, signing: RowSigning, options: { acceptEdit?: boolean } = {}): Promise<SignedVersion> {
  const keys = verificationKeysOf(signing);
  if (keys === undefined) throw new RegistryError('no signing key: set MODEL_SIGNING_KEY (as the workers and the prediction API have it) to sign registry rows');
  const key = keys.signingKey;
  const raw = await store.db.selectFrom('model_versions').selectAll().where('name', '=', name).where('version', '=', version).executeTakeFirst();
  if (!raw) return Promise.reject(new RegistryError(`model ${name} has no version ${version}`));
  const v = toVersion(raw);
  const check = rowSignatureCheck(keys, v);
  // Only a row some key confirms is re-signed without asking: this key (nothing to do), or a key
  // signing used before a rotation. The stored key id and a missing signature prove nothing (whoever
  // edits the row can write either), so an edited row never passes for a rotated or an old one.
  if (check.problem !== undefined && !options.acceptEdit) {
    throw new RegistryError(`model ${name} v${version}'s row ${unconfirmedBecause(keys, v.signature)}${v.signature ? ` (${check.problem})` : ''}; nothing was signed: look at it (mlp models show) and sign it with --accept-edit only if you vouch for the row as it is`);
  }
  const before = signedBefore(v.signature !== undefined, check);
  await verifyModelArtifact(store, artifacts, v, { signingKey: key, skipSignatureCheck: true });
  const signature = signRow(key, v);
  if (before.state === 'valid') return { version: { ...v, signature }, signature, before };
  // Only the row that was checked is signed: the update matches every column as it was read, so a
  // row edited in the meantime (even between a re-read and the write) is left alone.
  const columns = ['artifact_sha256', 'artifact_bytes', 'algorithm', 'params', 'seed', 'feature_set_version', 'label', 'snapshot_id', 'snapshot_hash', 'code_version', 'workflow_id', 'run_id', 'registration_key', 'metrics', 'lineage', 'created_at', 'signature', 'signature_key_id'] as const;
  let update = store.db.updateTable('model_versions').set({ signature: signature.mac, signature_key_id: signature.keyId }).where('name', '=', name).where('version', '=', version);
  for (const column of columns) update = raw[column] === null ? update.where(column, 'is', null) : update.where(column, '=', raw[column] as never);
  const [result] = await update.execute();
  if (Number(result?.numUpdatedRows ?? 0) !== 1) throw new RegistryError(`model ${name} v${version} changed while it was being checked; nothing was signed, run the command again`);
  return { version: { ...v, signature }, signature, before };
}

/** Why no key confirms a row or record as it is, for the refusal to re-sign it. */
function unconfirmedBecause(keys: { signingKey: string; previousKeys: readonly string[] }, signature: { keyId: string } | undefined): string {
  if (!signature) return 'has no signature, so nothing shows it is as it was recorded (recorded without the key, or the signature was removed)';
  if (signature.keyId === signingKeyId(keys.signingKey)) return 'was changed after this key signed it';
  if (keys.previousKeys.some((k) => signingKeyId(k) === signature.keyId)) return `was changed after a previous key (key id ${signature.keyId}, in MODEL_SIGNING_PREVIOUS_KEYS) signed it`;
  return `is signed with another key (key id ${signature.keyId}), which none of MODEL_SIGNING_KEY and MODEL_SIGNING_PREVIOUS_KEYS confirms: after a key rotation, give the old key in MODEL_SIGNING_PREVIOUS_KEYS; a stored key id is no proof (whoever edits the row can write one)`;
}

/**
 * Signs the report record already in a version's lineage (report, promotion decision, guard
 * verdicts) with the signing key, as it is now: for records written before records were signed or
 * without the key, and after a key rotation (`mlp report <model@version> --sign-record`). Refused
 * without a key, for a row whose own signature fails, when nothing is recorded, when `check` (run on
 * the row as read: the caller checks the report file) throws, and, unless `acceptEdit`, for a record
 * no key confirms (this key or one of `signing.previousKeys`): unsigned, or changed since it was signed. Like signModelVersion, it vouches for the record
 * as it is now: whoever runs it should have looked at it first. Only the lineage that was checked is
 * signed (the update matches it as read).
 */
export async function signVersionReportRecord(
  store: Database,
  name: string,
  version: number,
  signing: RowSigning,
  options: { acceptEdit?: boolean; check?: (version: ModelVersion) => Promise<void> } = {},
): Promise<{ version: ModelVersion; before: SignedBefore }> {
  const keys = verificationKeysOf(signing);
  if (keys === undefined) throw new RegistryError('no signing key: set MODEL_SIGNING_KEY (as the workers and the prediction API have it) to sign report records');
  const key = keys.signingKey;
  const raw = await store.db.selectFrom('model_versions').selectAll().where('name', '=', name).where('version', '=', version).executeTakeFirst();
  if (!raw) throw new RegistryError(`model ${name} has no version ${version}; see \`models list\``);
  const v = toVersion(raw);
  const rowProblem = rowSignatureProblem(keys, v);
  if (rowProblem) throw new RegistryError(`${name} v${version}'s report record was not signed: ${rowProblem}`);
  if (!REPORT_RECORD_KEYS.some((k) => Object.hasOwn(v.lineage, k))) throw new RegistryError(`${name} v${version} has no report record to sign; make its report with \`mlp report ${name}@${version}\``);
  const check = reportRecordCheck(keys, v);
  const stored = v.lineage[REPORT_RECORD_SIGNATURE_KEY] as { keyId?: unknown } | undefined;
  const before = signedBefore(stored !== undefined, check);
  if (before.state === 'valid') return { version: v, before };
  // As signModelVersion: only a record some key confirms is re-signed without asking.
  if (check.problem !== undefined && !options.acceptEdit) {
    const signature = reportRecordSignatureOf(v.lineage);
    throw new RegistryError(`${name} v${version}'s report record ${unconfirmedBecause(keys, signature)}${signature ? ` (${check.problem})` : ''}; nothing was signed: look at it (mlp models show) and sign it with --accept-edit only if you vouch for it as it is`);
  }
  await options.check?.(v);
  const lineage: Record<string, unknown> = { ...v.lineage };
  delete lineage[REPORT_RECORD_SIGNATURE_KEY];
  lineage[REPORT_RECORD_SIGNATURE_KEY] = signReportRecord(key, { ...v, lineage });
  const [result] = await store.db.updateTable('model_versions').set({ lineage: JSON.stringify(lineage) }).where('name', '=', name).where('version', '=', version).where('lineage', '=', raw.lineage).execute();
  if (Number(result?.numUpdatedRows ?? 0) !== 1) throw new RegistryError(`${name} v${version} changed while its report record was being checked; nothing was signed, run the command again`);
  return { version: { ...v, lineage }, before };
}

/** What a run report adds to a version's lineage: the report file, and what the report read from the run. */
export interface VersionReportRecord {
  report: { path: string; sha256: string; bytes: number; generatedAt: string };
  /** The registration's promotion decision (not stored elsewhere when nothing moved). */
  promotion?: { promote: boolean; reason: string };
  /** Verdicts of the guards that judged the run's dataset. */
  datasetGuards?: Array<{ guard: string; tripped: boolean; message: string }>;
}

/**
 * Records a version's run report in its lineage (the model and its metrics stay as registered;
 * only these keys are set, so writing the report again replaces them). They are the lineage keys
 * the row signature leaves out (row-signature.ts REPORT_RECORD_KEYS), so a signed row stays valid;
 * only those are written (a key added to VersionReportRecord must be added there too).
 *
 * With a signing key the record gets its own signature (row-signature.ts reportRecordProblem), over
 * the keys as they are after this write, bound to this version; and nothing is recorded (RegistryError)
 * for a row whose signature does not hold, or when a key this write keeps (a promotion decision or
 * guard verdicts not given again) fails its signature: signing it would vouch for an edit. Without a
 * key the record is written unsigned, except over a signed record (RegistryError: that would remove
 * its signature; a process without the key is not the key holder).
 */
export async function recordVersionReport(store: Database, name: string, version: number, record: VersionReportRecord, signing: RowSigning = NO_ROW_SIGNING): Promise<ModelVersion> {
  const v = await getModelVersion(store, name, version);
  const key = signing.signingKey;
  const keys = verificationKeysOf(signing);
  if (key !== undefined && keys !== undefined) {
    const problem = rowSignatureProblem(keys, v);
    if (problem) throw new RegistryError(`no report was recorded for ${name} v${version}: ${problem}`);
    const kept = REPORT_RECORD_KEYS.filter((k) => !Object.hasOwn(record, k) && Object.hasOwn(v.lineage, k));
    const recordProblem = kept.length > 0 ? reportRecordProblem(keys, v) : undefined;
    if (recordProblem) throw new RegistryError(`no report was recorded for ${name} v${version}: it would keep ${kept.join(' and ')}, and ${recordProblem}`);
  } else {
    // A process without the key (a CLI without MODEL_SIGNING_KEY) would strip a signed record of its signature.
    const signed = v.lineage[REPORT_RECORD_SIGNATURE_KEY] as { keyId?: unknown } | undefined;
    if (signed !== undefined) throw new RegistryError(`no report was recorded for ${name} v${version}: its report record is signed (key id ${String(signed?.keyId)}) and this process has no MODEL_SIGNING_KEY; recording without it would remove the signature: record it where the key is set`);
  }
  const reported = Object.fromEntries(REPORT_RECORD_KEYS.filter((k) => Object.hasOwn(record, k)).map((k) => [k, record[k]]));
  const lineage: Record<string, unknown> = { ...v.lineage, ...reported };
  delete lineage[REPORT_RECORD_SIGNATURE_KEY];
  // Signed as it will be read back (the stored JSON parsed), so verification recomputes the same text.
  if (key !== undefined) lineage[REPORT_RECORD_SIGNATURE_KEY] = signReportRecord(key, { ...v, lineage: JSON.parse(JSON.stringify(lineage)) as Record<string, unknown> });
  await store.db.updateTable('model_versions').set({ lineage: JSON.stringify(lineage) }).where('name', '=', name).where('version', '=', version).execute();
  return { ...v, lineage };
}
