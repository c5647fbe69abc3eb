/**
 * The models a prediction API process serves. Per model name it holds one immutable snapshot
 * (routes + every loaded version they need); requests read the snapshot once at their start.
 * Changes arrive on `serving:routes` (pub/sub) or by polling; the versions a new split needs are
 * loaded and verified off the request path, then the snapshot is replaced in one assignment. An
 * announcement only moves a model to a newer generation (a late one is ignored); the poll takes the
 * row the store holds, also at a lower generation (a restored backup, a reset, a rollback on top). A
 * version that fails to load never takes traffic: the old snapshot stays and the next poll retries.
 * A routes row this code cannot read stops only its own model. Each poll also re-checks the
 * registry rows of the loaded versions (one query; a row that changed since it was verified is
 * checked again), so an edit after loading is refused here as a process starting now refuses it.
 *
 * A refused version other than the split's anchor (the champion, the reference variant, an A/B
 * test's champion arm: lib/serving/withdrawal.ts) does not take the model down: the snapshot is
 * served without it, its traffic answered (and logged) by the anchor's version, and the model is
 * reported degraded (degradedModels, stats().withdrawn, the `onWithdrawn` hook) until the version
 * verifies again (retried when its row changes, and every `withdrawnRetryMs`) or the routes move. A
 * refused anchor withdraws the whole snapshot: requests get 503 naming the cause.
 *
 * Each poll also judges every model's routes against the registry's champion alias
 * (championMismatch): routes edited to serve another champion are served as routed, and reported.
 */
import crypto from 'node:crypto';
import { z } from 'zod';
import { loadModelRuntimes } from '../../models/algorithms';
import type { ArtifactHeader } from '../../models/artifact';
import type { TrainedModel } from '../../models/model';
import type { Cache } from '../cache/cache';
import { labelMismatches, type LabelMismatchError } from '../registry/label-spec';
import { assertServable, getModelVersion, RegistryError, verifyRegisteredVersion, type ModelVersion } from '../registry/model-registry';
import { recordedFieldMismatch } from '../registry/recorded-fields';
import { rowSignatureCheck, verificationKeysOf, type RowSigning } from '../registry/row-signature';
import { aliasRecordProblem, storedSignatureOf } from '../registry/serving-record-signature';
import { ArtifactVerificationError } from '../registry/verify-artifact';
import type { Database } from '../store/database';
import { InvalidServingRoutesError, readEveryServingRoutes, readServingRoutes, sameServingRoutes, SERVING_ROUTES_CHANNEL, servingRoutesSignatureProblem, type ServingRoutes } from './serving-routes';
import type { ArtifactStore } from '../artifacts/artifact-store';
import type { Route } from './routing';
import { servedChampionDisagreements, type DeploymentOpen } from './served-champion';
import { anchorRoute, describeDegradation, routesWithout, variantsOf, withdrawalReasonOf, type ServingDegradation, type WithdrawalReason, type WithdrawnVersion } from './withdrawal';

export type { ServingDegradation, WithdrawalReason, WithdrawnVersion } from './withdrawal';

export interface LoadedModel {
  version: ModelVersion;
  model: TrainedModel;
}

export interface ServingSnapshot {
  /**
   * The routes served: the generation's routes as written, less any withdrawn version (its weight
   * moved to the anchor, so routing sends its requests to the anchor's version). Same generation.
   */
  routes: ServingRoutes;
  /** Every version the served routes name (routes and shadow), loaded and verified. */
  models: ReadonlyMap<number, LoadedModel>;
  loadedAt: string;
  /** Present when versions the routes as written name are withdrawn (refused by verification): which, why, and the routes as written. */
  degraded?: ServingDegradation;
}

export interface ServingModelsStats {
  /** Snapshots replaced (the first load of a model counts). */
  swaps: number;
  /** Attempts to load a split that failed (a version missing, unreadable or failing verification). */
  verificationFailures: number;
  /** Reads of the routes (poll or announcement) that failed. */
  readFailures: number;
  lastError?: { model?: string; message: string; at: string };
  /** Generation each model is serving now. */
  generations: Record<string, number>;
  /** Generation each model should serve but has not loaded yet (absent when up to date). */
  pending: Record<string, number>;
  /**
   * Versions withdrawn from serving since start (a loaded version refused on a re-check, or one left
   * out of a generation loaded without it), by model, version and reason: running totals.
   */
  withdrawals: Array<{ model: string; version: number; reason: WithdrawalReason; count: number }>;
  /** Per model, the versions its routes name that are withdrawn now (its champion when the model is not served at all); absent when none. */
  withdrawn: Record<string, WithdrawnVersion[]>;
  /**
   * Per model, the served versions whose registry row a previous key (MODEL_SIGNING_PREVIOUS_KEYS)
   * signed, with its key id: served, but the key rotation is not finished until they are re-signed
   * (`mlp models sign`); absent when none.
   */
  previousKeySigned: Record<string, Array<{ version: number; keyId: string }>>;
}

/** What the `onWithdrawn` hook is told: a version just withdrawn, and what serves its traffic now. */
export interface WithdrawalEvent extends WithdrawnVersion {
  model: string;
  generation: number;
  /** The variant and version answering its requests now; undefined: the model is not served (its anchor was refused). */
  servedBy: { variant: string; version: number } | undefined;
}

export type ServingLog = (event: string, detail: Record<string, unknown>) => void;

/** Routes the store holds that this process refuses to serve (MODEL_SIGNING_KEY set), and what it serves instead. */
export interface RoutesRefusal {
  model: string;
  /** The generation the refused row carries, and what it routes to. */
  generation: number;
  versions: string;
  /** `signature`: missing, edited or another key's; `replay`: a signed row older than one verified before (written back); `alias`: the champion alias row's signature does not match it (the routes are served as they verify). */
  reason: 'signature' | 'replay' | 'alias';
  message: string;
  /** The generation still served (the last verified routes), or null when none is. */
  serving: number | null;
}

export interface ServingModelsDeps {
  store: Database;
  cache: Cache;
  /** Where the model artifacts are (lib/artifacts): the directory or the object store the workers write to. */
  artifacts: ArtifactStore;
  /** How often the routes are re-read in case an announcement was missed (ms, default 2000). */
  pollMs?: number;
  log?: ServingLog;
  /**
   * The deployment's MODEL_SIGNING_KEY: with it, only versions whose registry row it signed (or one of
   * its MODEL_SIGNING_PREVIOUS_KEYS: a rotation in progress) are served (lib/registry/row-signature.ts).
   */
  signing?: RowSigning;
  /**
   * Called (never awaited) each time routes are refused (with the key: their signature is missing or
   * fails, or they are older than routes this process verified): the API raises an alert from it.
   */
  onRoutesRefused?: (event: RoutesRefusal) => void;
  /** Called (never awaited; a throw is logged) each time a version is withdrawn: the API raises an alert from it. */
  onWithdrawn?: (event: WithdrawalEvent) => void;
  /** How often a withdrawn version whose row did not change is verified again (ms, default 30000): a repaired artifact is taken back. */
  withdrawnRetryMs?: number;
  /**
   * Whether a deployment's workflow is still open (asked of Temporal by the API process). Without
   * it, a 'running' deployments row is taken at its word: a split written by a deployment whose
   * workflow was terminated (which can clean nothing up) passed as its own until its row ended.
   */
  deploymentOpen?: DeploymentOpen;
}

/** "v3 (champion), v4 (canary), v5 (shadow)". */
function describeVersions(routes: ServingRoutes): string {
  return [...routes.routes.map((r) => `v${r.version} (${r.variant})`), ...(routes.shadow ? [`v${routes.shadow.version} (shadow)`] : [])].join(', ');
}

/** "its stored routes (generation 3: v1 (champion)) are refused: …". */
function describeRefusal(r: RoutesRefusal): string {
  return `its stored routes (generation ${r.generation}: ${r.versions}) are refused: ${r.message}`;
}

const announcementSchema = z.object({ model: z.string(), generation: z.number().int() });

/** What a loaded version was verified against: its registry row (as a fingerprint) and its artifact's header. */
interface VerifiedRow {
  /** Fingerprint of the row read just before it was verified; undefined when there was none. */
  fingerprint: string | undefined;
  header: ArtifactHeader;
  /** The previous key whose signature vouched for the row (re-signing pending), if not the current key's. */
  previousKeyId?: string;
}

const versionKey = (model: string, version: number) => `${model}\u0000${version}`;

/** A hash of every column of a registry row: any edit of the row, its signature included, changes it. */
function rowFingerprint(row: Record<string, unknown>): string {
  const text = Object.keys(row)
    .sort()
    .map((column) => `${column}=${row[column] === null ? '\u0000' : String(row[column])}`)
    .join('\u0001');
  return crypto.createHash('sha256').update(text).digest('base64');
}

/** When a withdrawn version was refused: the row's fingerprint then (a change is retried at once) and when to retry anyway. */
interface Refusal {
  fingerprint: string | undefined;
  retryAt: number;
}

/** A generation loaded with no snapshot serving cannot be served: verification refused its anchor (or a version of a split without one). */
class UnservableGenerationError extends Error {
  constructor(
    message: string,
    readonly version: number,
    readonly refusal: unknown,
    readonly fingerprint: string | undefined,
  ) {
    super(message, { cause: refusal });
  }
}

/** The version's row or artifact is refused (edited, unreadable, unsigned, vetoed, deleted), as opposed to a store that could not be read. */
function isRefusal(error: unknown): boolean {
  // RegistryError covers a row whose JSON cannot be read (UnreadableVersionRowError), an edit like any other.
  return error instanceof ArtifactVerificationError || error instanceof RegistryError;
}

/** The routes a snapshot was loaded from (as written, withdrawn versions included). */
const writtenOf = (snapshot: ServingSnapshot): ServingRoutes => snapshot.degraded?.written ?? snapshot.routes;

/**
 * One read of the routes: `started` numbers it among reads (this.reads when it began), `endedAt` is
 * this.reads when it returned, so a read whose `started` is above another's `endedAt` began after
 * that one had returned and saw the store as it was then or later. `trusted`: the poll's read, whose
 * row is taken as the store's truth; an announcement's read only ever moves a model forward.
 */
interface RoutesRead {
  started: number;
  endedAt: number;
  trusted: boolean;
}

export class ServingModels {
  private readonly snapshots = new Map<string, ServingSnapshot>();
  /** The routes per model the loader works towards: the newest an announcement read, or what the store held on the last poll. */
  private readonly desired = new Map<string, ServingRoutes>();
  /** Per model, the `endedAt` of the read that set `desired`: only a poll that began after it may move the model back. */
  private readonly desiredReadAt = new Map<string, number>();
  /** Reads of the routes begun so far (RoutesRead). */
  private reads = 0;
  /** One loader per model at a time, so concurrent notifications never interleave loads. */
  private readonly loaders = new Map<string, Promise<void>>();
  private readonly counters = { swaps: 0, verificationFailures: 0, readFailures: 0 };
  private lastError: ServingModelsStats['lastError'];
  /** Per model, why its newest routes could not be loaded (cleared when a snapshot is swapped in). */
  private readonly loadFailures = new Map<string, { generation: number; message: string }>();
  /** Models whose routes row cannot be read: not served until it is rewritten (only that model). */
  private readonly invalidRoutes = new Map<string, { generation: number; message: string }>();
  /** Per loaded version, the row and header it was verified against (re-checked when the row changes). */
  private readonly verified = new WeakMap<LoadedModel, VerifiedRow>();
  /** Per withdrawn version of a degraded snapshot, the refusal (when to try it again). */
  private readonly refusals = new WeakMap<WithdrawnVersion, Refusal>();
  /** Models not served because verification refused their anchor (champion), on a re-check or when loading with nothing serving: the version and why, until a snapshot is served again. */
  private readonly anchorsWithdrawn = new Map<string, WithdrawnVersion>();
  /**
   * Per model, the newest routes whose signature this process verified (with the key), and the
   * `endedAt` of the read: never served a lower generation again (a replayed older signed row).
   */
  private readonly newestVerified = new Map<string, { routes: ServingRoutes; readAt: number }>();
  /** Per model, why its champion alias row is not as a key holder wrote it (with the key), as the last poll read it. */
  private aliasRefusals = new Map<string, string>();
  /** Per model, the routes the last poll read and refused (with the key): not ready until routes it accepts are stored. */
  private readonly refusedRoutes = new Map<string, RoutesRefusal>();
  /** Per model, why its routes (as the last poll read them) serve another champion than the champion alias names. */
  private championDisagreements = new Map<string, string>();
  /** Withdrawals since start, by model, version and reason (the metric). */
  private readonly withdrawalCounts = new Map<string, { model: string; version: number; reason: WithdrawalReason; count: number }>();
  private unsubscribe: (() => Promise<void>) | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private closed = false;
  private runtimes: Promise<unknown> | undefined;
  private readonly pollMs: number;
  private readonly withdrawnRetryMs: number;
  private readonly log: ServingLog;

  constructor(private readonly deps: ServingModelsDeps) {
    this.pollMs = deps.pollMs ?? 2000;
    this.withdrawnRetryMs = deps.withdrawnRetryMs ?? 30_000;
    this.log = deps.log ?? (() => undefined);
    if (!(this.pollMs > 0)) throw new Error(`ServingModels: pollMs must be positive, got ${deps.pollMs}`);
    if (!(this.withdrawnRetryMs >= 0)) throw new Error(`ServingModels: withdrawnRetryMs must be 0 or more, got ${deps.withdrawnRetryMs}`);
  }

  /** The MODEL_SIGNING_KEY versions are verified with: the API checks the online vectors it serves with the same key. */
  get signing(): RowSigning | undefined {
    return this.deps.signing;
  }

  /**
   * Subscribes to announcements, loads every model's current routes (a failing model stays
   * unloaded and is retried by the poll), then starts polling. Throws when the store cannot be read.
   */
  async start(): Promise<void> {
    if (this.closed) throw new Error('ServingModels: start() after close()');
    try {
      this.unsubscribe = await this.deps.cache.subscribe(SERVING_ROUTES_CHANNEL, (message) => this.onAnnouncement(message));
    } catch (error) {
      // Polling still picks changes up, a little later.
      this.fail('serving.subscribe_failed', undefined, error);
    }
    await this.refreshAll();
    this.schedulePoll();
  }

  snapshot(model: string): ServingSnapshot | undefined {
    return this.snapshots.get(model);
  }

  /** Every model that has serving routes, loaded or not (or unreadable), sorted. */
  models(): string[] {
    return [...new Set([...this.desired.keys(), ...this.snapshots.keys(), ...this.invalidRoutes.keys(), ...this.refusedRoutes.keys()])].sort();
  }

  /** Why a model with routes has no snapshot, when a read or load said so (for the 503 a request gets). */
  whyUnavailable(model: string): string | undefined {
    if (this.snapshots.has(model)) return undefined;
    const refused = this.refusedRoutes.get(model);
    if (refused) return `its routes (generation ${refused.generation}) are refused: ${refused.message}`;
    const invalid = this.invalidRoutes.get(model);
    return invalid ? `its routes (generation ${invalid.generation}) cannot be read: ${invalid.message}` : this.loadFailures.get(model)?.message;
  }

  /**
   * One sentence per model served without some of the versions its routes name (withdrawn: refused
   * by verification), saying which, why, and which version answers their traffic. Such a model is
   * still ready: it serves its approved version.
   */
  degradedModels(): string[] {
    const problems: string[] = [];
    for (const [model, snapshot] of this.snapshots) if (snapshot.degraded) problems.push(describeDegradation(model, snapshot.routes.generation, snapshot.degraded));
    for (const [model, problem] of this.aliasRefusals) problems.push(`${model}: its champion alias is refused (deployments, promotion and the dashboard judge the alias's version): ${problem}`);
    for (const [model, r] of this.refusedRoutes) {
      const served = this.snapshots.get(model);
      if (served) problems.push(`${model}: serves generation ${served.routes.generation} (${describeVersions(served.routes)}), the last routes it verified, because ${describeRefusal(r)}`);
    }
    return problems.sort();
  }

  /**
   * Why the model's routes, as the last poll read them, serve another champion than the registry's
   * champion alias names (lib/serving/served-champion.ts), or undefined when they agree. The model is
   * served as routed (still ready): the routes are what traders get, but deployments, promotion and
   * the dashboard judge the alias's version.
   */
  championMismatch(model: string): string | undefined {
    return this.championDisagreements.get(model);
  }

  /** The routes the store holds for the model that this process refuses (MODEL_SIGNING_KEY set), as the last poll read them; undefined when none are. */
  routesRefused(model: string): RoutesRefusal | undefined {
    const r = this.refusedRoutes.get(model);
    return r ? { ...r } : undefined;
  }

  /** True when every model serves the versions its newest routes name (see unreadyModels). */
  ready(): boolean {
    return this.unreadyModels().length === 0;
  }

  /**
   * One sentence per model whose routed versions are not the loaded ones: not loaded at all, or an
   * older generation still serving because the new one is loading or failed to load (with why).
   */
  unreadyModels(): string[] {
    const problems: string[] = [];
    for (const [model, routes] of this.desired) {
      const current = this.snapshots.get(model);
      if (current && sameServingRoutes(writtenOf(current), routes)) continue;
      const routed = describeVersions(routes);
      const failed = this.loadFailures.get(model);
      const failure = failed ? `; loading generation ${failed.generation} failed: ${failed.message}` : '';
      problems.push(current ? `${model}: routes generation ${routes.generation} name ${routed} but generation ${current.routes.generation} (${describeVersions(current.routes)}) is what is loaded${failure}` : `${model}: routes generation ${routes.generation} name ${routed}, none loaded yet${failure}`);
    }
    for (const [model, invalid] of this.invalidRoutes) problems.push(`${model}: not served, its routes (generation ${invalid.generation}) cannot be read: ${invalid.message}`);
    for (const [model, r] of this.refusedRoutes) if (!this.snapshots.has(model)) problems.push(`${model}: not served, ${describeRefusal(r)}`);
    return problems.sort();
  }

  /**
   * Checks that `versions` of `model` pass the artifact verification this loader applies (a route
   * change is refused with the reason, rather than routing traffic to a model no process can load).
   */
  async verifyVersions(model: string, versions: Iterable<number>): Promise<void> {
    for (const version of [...new Set(versions)].sort((a, b) => a - b)) assertServable((await verifyRegisteredVersion(this.deps.store, this.deps.artifacts, model, version, this.deps.signing)).version);
  }

  stats(): ServingModelsStats {
    const generations: Record<string, number> = {};
    const pending: Record<string, number> = {};
    for (const [model, s] of this.snapshots) generations[model] = s.routes.generation;
    for (const [model, routes] of this.desired) {
      const current = this.snapshots.get(model);
      if (!current || !sameServingRoutes(writtenOf(current), routes)) pending[model] = routes.generation;
    }
    const withdrawn: Record<string, WithdrawnVersion[]> = {};
    for (const [model, s] of this.snapshots) if (s.degraded) withdrawn[model] = s.degraded.withdrawn.map((w) => ({ ...w, variants: [...w.variants] }));
    for (const [model, w] of this.anchorsWithdrawn) if (!this.snapshots.has(model)) withdrawn[model] = [{ ...w, variants: [...w.variants] }];
    const withdrawals = [...this.withdrawalCounts.values()].map((c) => ({ ...c }));
    const previousKeySigned: ServingModelsStats['previousKeySigned'] = {};
    for (const [model, s] of this.snapshots) {
      const signed = [...s.models.values()].flatMap((loaded) => {
        const keyId = this.verified.get(loaded)?.previousKeyId;
        return keyId !== undefined ? [{ version: loaded.version.version, keyId }] : [];
      });
      if (signed.length > 0) previousKeySigned[model] = signed;
    }
    return { ...this.counters, ...(this.lastError ? { lastError: { ...this.lastError } } : {}), generations, pending, withdrawals, withdrawn, previousKeySigned };
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.pollTimer) clearTimeout(this.pollTimer);
    const unsubscribe = this.unsubscribe;
    this.unsubscribe = undefined;
    await unsubscribe?.().catch(() => undefined);
    await this.polling;
    await Promise.allSettled([...this.loaders.values()]);
  }

  private schedulePoll(): void {
    if (this.closed) return;
    this.pollTimer = setTimeout(() => {
      this.polling = this.refreshAll()
        .catch(() => undefined) // already counted and logged
        .finally(() => {
          this.polling = undefined;
          this.schedulePoll();
        });
    }, this.pollMs);
    this.pollTimer.unref();
  }

  /** Reads every model's routes, re-checks the loaded versions' registry rows and brings each snapshot up to date. */
  private async refreshAll(): Promise<void> {
    let all: Awaited<ReturnType<typeof readEveryServingRoutes>>;
    const started = ++this.reads;
    try {
      all = await readEveryServingRoutes(this.deps.store);
    } catch (error) {
      this.counters.readFailures++;
      this.fail('serving.read_failed', undefined, error);
      throw error;
    }
    if (this.closed) return;
    const read: RoutesRead = { started, endedAt: this.reads, trusted: true };
    const present = new Set([...all.routes.map((r) => r.model), ...all.invalid.map((e) => e.model)]);
    for (const model of new Set([...this.desired.keys(), ...this.invalidRoutes.keys(), ...this.refusedRoutes.keys()])) {
      if (present.has(model)) continue;
      // Its routes were removed: stop serving it.
      this.desired.delete(model);
      this.desiredReadAt.delete(model);
      this.snapshots.delete(model);
      this.loadFailures.delete(model);
      this.invalidRoutes.delete(model);
      this.refusedRoutes.delete(model);
      this.anchorsWithdrawn.delete(model);
      this.log('serving.model_dropped', { model });
    }
    for (const invalid of all.invalid) this.disable(invalid);
    await this.recheckLoadedRows();
    await Promise.all(all.routes.map((routes) => this.offer(routes, read)));
    await this.checkChampionAlias(all.routes);
    await this.checkAliasSignatures(all.routes);
  }

  /**
   * Whether each model's routes and champion alias name one champion. A routes row or alias edited
   * by SQL serves one version while deployments and promotion judge another, and only their starts
   * checked it: now each poll does, reporting (championMismatch, the log once per change) without
   * withdrawing anything (which of the two is wrong is a person's call).
   */
  private async checkChampionAlias(routes: readonly ServingRoutes[]): Promise<void> {
    let found: Map<string, string>;
    try {
      found = await servedChampionDisagreements(this.deps.store, routes, this.deps.deploymentOpen ? { deploymentOpen: this.deps.deploymentOpen } : {});
    } catch (error) {
      this.counters.readFailures++;
      this.fail('serving.read_failed', undefined, error);
      return; // the last verdicts stand until a poll can read again
    }
    if (this.closed) return;
    for (const [model, message] of found) if (this.championDisagreements.get(model) !== message) this.log('serving.champion_mismatch', { model, error: message });
    for (const model of this.championDisagreements.keys()) if (!found.has(model)) this.log('serving.champion_agrees', { model });
    this.championDisagreements = found;
  }

  /**
   * A model whose routes row cannot be read: stop serving it (its intended split is unknown, and a
   * process starting now could not serve it either) and say why, until the row is rewritten.
   */
  private disable(invalid: InvalidServingRoutesError): void {
    const { model, generation, message } = invalid;
    const served = this.snapshots.get(model)?.routes.generation ?? null;
    this.desired.delete(model);
    this.desiredReadAt.delete(model);
    this.snapshots.delete(model);
    this.loadFailures.delete(model);
    this.anchorsWithdrawn.delete(model);
    if (this.invalidRoutes.get(model)?.message === message) return; // reported already; polls find it again
    this.invalidRoutes.set(model, { generation, message });
    this.fail('serving.routes_invalid', model, invalid, { generation, stopped: served });
  }

  /**
   * Re-checks the loaded versions whose registry row changed since they were verified: one query
   * per poll (fingerprints of the rows); the row checks, and an artifact read only when the row now
   * names another artifact, run for changed rows alone. Withdrawn versions are tried again when
   * their row changed or their retry time came.
   */
  private async recheckLoadedRows(): Promise<void> {
    const pairs: Array<[string, number]> = [];
    for (const [model, snapshot] of this.snapshots) {
      for (const version of snapshot.models.keys()) pairs.push([model, version]);
      for (const w of snapshot.degraded?.withdrawn ?? []) pairs.push([model, w.version]);
    }
    if (pairs.length === 0) return;
    let fingerprints: Map<string, string>;
    try {
      fingerprints = await this.readRowFingerprints(pairs);
    } catch (error) {
      this.counters.readFailures++;
      this.fail('serving.read_failed', undefined, error);
      return; // keep serving; the next poll checks again
    }
    const changed = new Set<string>();
    for (const [model, snapshot] of this.snapshots) {
      for (const [version, loaded] of snapshot.models) {
        const fingerprint = fingerprints.get(versionKey(model, version));
        if (fingerprint === undefined || fingerprint !== this.verified.get(loaded)?.fingerprint) changed.add(model);
      }
      if (snapshot.degraded?.withdrawn.some((w) => this.retryDue(model, w, fingerprints))) changed.add(model);
    }
    // Through the model's loader queue, so a check never interleaves with a load.
    await Promise.all([...changed].map((model) => this.exclusive(model, () => this.recheck(model, fingerprints))));
  }

  /** Fingerprints (rowFingerprint) of the registry rows of these versions, by versionKey; a deleted row is absent. */
  private async readRowFingerprints(pairs: ReadonlyArray<[string, number]>): Promise<Map<string, string>> {
    const rows = await this.deps.store.db
      .selectFrom('model_versions')
      .selectAll()
      .where((eb) => eb.or(pairs.map(([name, version]) => eb.and([eb('name', '=', name), eb('version', '=', version)]))))
      .execute();
    return new Map(rows.map((row) => [versionKey(row.name, Number(row.version)), rowFingerprint(row as unknown as Record<string, unknown>)]));
  }

  /** A withdrawn version is tried again when its row changed since it was refused, or its retry time came. */
  private retryDue(model: string, withdrawn: WithdrawnVersion, fingerprints: ReadonlyMap<string, string>): boolean {
    const refusal = this.refusals.get(withdrawn);
    return !refusal || refusal.fingerprint !== fingerprints.get(versionKey(model, withdrawn.version)) || Date.now() >= refusal.retryAt;
  }

  /**
   * Checks again each loaded version of the model whose row changed, and tries again the withdrawn
   * ones that are due. All pass: a snapshot with the same routes and the rows as they are now (a
   * withdrawn version that verifies again is served again). A version other than the anchor is
   * refused: it is withdrawn and the anchor answers its traffic (the model keeps serving, degraded).
   * The anchor (champion) is refused: the snapshot is withdrawn, so the model serves what a process
   * starting now would (the loader retries the routes on each poll). No verdict (a store could not
   * be read): nothing changes, and the next poll checks again.
   */
  private async recheck(model: string, fingerprints: ReadonlyMap<string, string>): Promise<void> {
    const snapshot = this.snapshots.get(model);
    if (this.closed || !snapshot) return;
    const written = snapshot.degraded?.written ?? snapshot.routes;
    const generation = written.generation;
    const models = new Map(snapshot.models);
    const noVerdict = (version: number, error: unknown) => {
      // The store or artifact store could not be read: no verdict, so keep serving and check on the next poll.
      this.counters.readFailures++;
      this.fail('serving.recheck_failed', model, error, { version });
    };
    const refused = new Map<number, { error: unknown; fingerprint: string | undefined }>();
    for (const [version, loaded] of snapshot.models) {
      const fingerprint = fingerprints.get(versionKey(model, version));
      const before = this.verified.get(loaded);
      if (fingerprint !== undefined && fingerprint === before?.fingerprint) continue;
      try {
        models.set(version, await this.reverify(model, loaded, before, fingerprint));
      } catch (error) {
        if (this.snapshots.get(model) !== snapshot) return;
        if (!isRefusal(error)) return noVerdict(version, error);
        models.delete(version);
        refused.set(version, { error, fingerprint });
      }
    }
    const reinstated = new Set<number>();
    for (const w of snapshot.degraded?.withdrawn ?? []) {
      if (!this.retryDue(model, w, fingerprints)) continue;
      let attempt: Awaited<ReturnType<ServingModels['attemptLoad']>>;
      try {
        attempt = await this.attemptLoad(model, w.version);
      } catch (error) {
        if (this.snapshots.get(model) !== snapshot) return;
        return noVerdict(w.version, error);
      }
      if (this.snapshots.get(model) !== snapshot) return;
      if ('loaded' in attempt) {
        models.set(w.version, attempt.loaded);
        reinstated.add(w.version);
      } else if (!isRefusal(attempt.error)) {
        return noVerdict(w.version, attempt.error);
      } else {
        // Still refused: withdrawn as it was (counted once), tried again later.
        this.refusals.set(w, { fingerprint: attempt.fingerprint, retryAt: Date.now() + this.withdrawnRetryMs });
      }
    }
    // The label rule holds on every check, so a version withdrawn for its label that verifies is not taken back for that alone.
    let mismatched: Map<number, LabelMismatchError>;
    try {
      mismatched = await labelMismatches(this.deps.store, model, new Map([...models].map(([version, loaded]) => [version, loaded.version.label])), (anchorRoute(written) ?? written.routes.find((r) => r.weight > 0))?.version);
    } catch (error) {
      if (this.snapshots.get(model) !== snapshot) return;
      return noVerdict([...models.keys()][0] ?? 0, error);
    }
    if (this.snapshots.get(model) !== snapshot) return;
    for (const [version, error] of mismatched) {
      models.delete(version);
      if (reinstated.delete(version)) {
        const w = snapshot.degraded!.withdrawn.find((x) => x.version === version)!;
        this.refusals.set(w, { fingerprint: fingerprints.get(versionKey(model, version)), retryAt: Date.now() + this.withdrawnRetryMs });
      } else {
        refused.set(version, { error, fingerprint: fingerprints.get(versionKey(model, version)) });
      }
    }
    let anchor = snapshot.degraded?.anchor;
    if (refused.size > 0 && !anchor) {
      try {
        anchor = await this.anchorOf(written);
      } catch (error) {
        if (this.snapshots.get(model) !== snapshot) return;
        return noVerdict([...refused.keys()][0], error);
      }
    }
    if (this.closed || this.snapshots.get(model) !== snapshot) return;
    this.counters.verificationFailures += refused.size;
    const anchorRefusal = anchor ? refused.get(anchor.version) : undefined;
    if (refused.size > 0 && (!anchor || anchorRefusal)) {
      // The approved version itself no longer verifies: nothing in the split may take its place.
      const [version, { error, fingerprint }] = anchor && anchorRefusal ? [anchor.version, anchorRefusal] : [...refused][0];
      this.snapshots.delete(model);
      const message = `v${version} was loaded but its registry row changed and no longer verifies, so generation ${generation} is not served: ${(error as Error).message}`;
      this.loadFailures.set(model, { generation, message });
      const entry = this.withdrawnEntry(written, version, error, fingerprint);
      this.anchorsWithdrawn.set(model, entry);
      this.recordWithdrawal(model, generation, entry, undefined);
      this.fail('serving.withdrawn', model, error, { generation, version, variants: entry.variants, reason: entry.reason });
      return;
    }
    const withdrawn = [...(snapshot.degraded?.withdrawn ?? []).filter((w) => !reinstated.has(w.version))];
    const newly = [...refused].map(([version, r]) => this.withdrawnEntry(written, version, r.error, r.fingerprint));
    withdrawn.push(...newly);
    withdrawn.sort((a, b) => a.version - b.version);
    const degraded = withdrawn.length > 0 && anchor ? { written, anchor, withdrawn } : undefined;
    this.snapshots.set(model, this.snapshotOf(written, models, degraded));
    for (const w of newly) {
      this.recordWithdrawal(model, generation, w, anchor);
      this.fail('serving.version_withdrawn', model, refused.get(w.version)!.error, { generation, version: w.version, variants: w.variants, reason: w.reason, servedBy: anchor ? `v${anchor.version} (${anchor.variant})` : null });
    }
    for (const version of reinstated) this.log('serving.reinstated', { model, generation, version });
    this.log('serving.reverified', { model, generation, versions: [...models.keys()], ...(withdrawn.length > 0 ? { withdrawn: withdrawn.map((w) => w.version) } : {}) });
  }

  /** The snapshot serving `written` with these models, less the degradation's withdrawn versions. */
  private snapshotOf(written: ServingRoutes, models: ReadonlyMap<number, LoadedModel>, degraded: ServingDegradation | undefined): ServingSnapshot {
    const loadedAt = new Date().toISOString();
    if (!degraded || degraded.withdrawn.length === 0) return { routes: written, models, loadedAt };
    const routes = routesWithout(written, degraded.anchor, new Set(degraded.withdrawn.map((w) => w.version)));
    return { routes, models, loadedAt, degraded: { written, anchor: degraded.anchor, withdrawn: degraded.withdrawn } };
  }

  /** The anchor of a split (lib/serving/withdrawal.ts), reading the champion alias only when the routes alone cannot tell (an A/B test). */
  private async anchorOf(routes: ServingRoutes): Promise<Route | undefined> {
    const own = anchorRoute(routes);
    if (own) return own;
    // With the key, a champion alias whose signature fails names no anchor (an edit cannot choose which arm stays).
    const alias = await this.deps.store.db.selectFrom('model_aliases').selectAll().where('name', '=', routes.model).where('alias', '=', 'champion').executeTakeFirst();
    if (!alias || this.aliasProblem(alias) !== undefined) return undefined;
    return anchorRoute(routes, Number(alias.version));
  }

  /** With the key: why the champion alias row is not as a key holder wrote it (no signature, edited), or undefined (also without the key). */
  private aliasProblem(row: { name: string; alias: string; version: number; seq?: number | null; signature?: string | null; signature_key_id?: string | null }): string | undefined {
    const keys = verificationKeysOf(this.deps.signing);
    if (keys === undefined) return undefined;
    const seq = row.seq === null || row.seq === undefined ? undefined : Number(row.seq);
    if (seq === undefined && !row.signature) return `the ${row.alias} alias of ${row.name} (v${row.version}) carries no signature: it was set without MODEL_SIGNING_KEY (before aliases were signed, or by a process without the key) or by hand`;
    return aliasRecordProblem(keys, { name: row.name, alias: row.alias, version: Number(row.version), seq: seq ?? 0 }, storedSignatureOf(row));
  }

  /**
   * With the key: each served model's champion alias row against its signature (one query per poll).
   * An alias that fails is reported (degradedModels, the log once per change; with a signature that
   * does not match, `onRoutesRefused` with reason `alias`) and names no anchor; the routes, which
   * decide what is served, are judged on their own signature.
   */
  private async checkAliasSignatures(routes: readonly ServingRoutes[]): Promise<void> {
    if (verificationKeysOf(this.deps.signing) === undefined || routes.length === 0) return;
    let rows;
    try {
      rows = await this.deps.store.db.selectFrom('model_aliases').selectAll().where('alias', '=', 'champion').where('name', 'in', routes.map((r) => r.model)).execute();
    } catch (error) {
      this.counters.readFailures++;
      this.fail('serving.read_failed', undefined, error);
      return;
    }
    const found = new Map<string, string>();
    for (const row of rows) {
      const problem = this.aliasProblem(row);
      if (problem !== undefined) found.set(row.name, problem);
    }
    for (const [model, problem] of found) {
      if (this.aliasRefusals.get(model) === problem) continue;
      this.log('serving.alias_refused', { model, error: problem });
      if (!/carries no signature/.test(problem)) {
        const generation = this.snapshots.get(model)?.routes.generation ?? null;
        try {
          this.deps.onRoutesRefused?.({ model, generation: generation ?? 0, versions: '', reason: 'alias', message: problem, serving: generation });
        } catch (error) {
          this.log('serving.alert_failed', { model, error: (error as Error).message });
        }
      }
    }
    this.aliasRefusals = found;
  }

  /** The record of a withdrawn version, remembering the row it was refused on. */
  private withdrawnEntry(written: ServingRoutes, version: number, error: unknown, fingerprint: string | undefined): WithdrawnVersion {
    const entry: WithdrawnVersion = {
      version,
      variants: variantsOf(written, version),
      weight: written.routes.filter((r) => r.version === version).reduce((sum, r) => sum + r.weight, 0),
      reason: withdrawalReasonOf(error),
      message: error instanceof Error ? error.message : String(error),
      at: new Date().toISOString(),
    };
    this.refusals.set(entry, { fingerprint, retryAt: Date.now() + this.withdrawnRetryMs });
    return entry;
  }

  /** Counts a withdrawal (the metric) and tells the `onWithdrawn` hook. */
  private recordWithdrawal(model: string, generation: number, withdrawn: WithdrawnVersion, servedBy: Route | undefined): void {
    const key = `${versionKey(model, withdrawn.version)}\u0000${withdrawn.reason}`;
    const count = this.withdrawalCounts.get(key) ?? { model, version: withdrawn.version, reason: withdrawn.reason, count: 0 };
    count.count++;
    this.withdrawalCounts.set(key, count);
    try {
      this.deps.onWithdrawn?.({ ...withdrawn, variants: [...withdrawn.variants], model, generation, servedBy: servedBy ? { variant: servedBy.variant, version: servedBy.version } : undefined });
    } catch (error) {
      this.log('serving.on_withdrawn_failed', { model, version: withdrawn.version, error: (error as Error).message });
    }
  }

  /**
   * The checks verification makes on a registry row, against the artifact this process already
   * verified and holds: the signature (with the key), the fields the header also records, the
   * serving veto. A row that now names another artifact is loaded and verified in full.
   */
  private async reverify(model: string, loaded: LoadedModel, before: VerifiedRow | undefined, fingerprint: string | undefined): Promise<LoadedModel> {
    const row = await getModelVersion(this.deps.store, model, loaded.version.version); // RegistryError when deleted
    if (!before || row.artifactSha256 !== loaded.version.artifactSha256 || row.artifactBytes !== loaded.version.artifactBytes) return this.loadVersion(model, row.version);
    const keys = verificationKeysOf(this.deps.signing);
    const signature = keys !== undefined ? rowSignatureCheck(keys, row) : {};
    const problem = signature.problem ?? recordedFieldMismatch(row, before.header, 'registry');
    if (problem) throw new ArtifactVerificationError(model, row.version, problem);
    assertServable(row);
    const next: LoadedModel = { version: row, model: loaded.model };
    this.verified.set(next, { fingerprint, header: before.header, ...(signature.previousKeyId !== undefined ? { previousKeyId: signature.previousKeyId } : {}) });
    this.notePreviousKey(model, row.version, signature.previousKeyId);
    return next;
  }

  /** Says (once per verification: when the row is loaded or changed) that a served row is vouched for by a previous key only. */
  private notePreviousKey(model: string, version: number, keyId: string | undefined): void {
    if (keyId !== undefined) this.log('serving.signed_with_previous_key', { model, version, keyId, action: `served; re-sign it with \`mlp models sign ${model} ${version}\` to finish the key rotation` });
  }

  /** Loads and verifies one version (what a process starting now does), remembering what it was verified against. */
  private async loadVersion(model: string, version: number): Promise<LoadedModel> {
    const attempt = await this.attemptLoad(model, version);
    if ('error' in attempt) throw attempt.error;
    return attempt.loaded;
  }

  /**
   * loadVersion, with a refusal returned (with the fingerprint of the row it was refused on) rather
   * than thrown; throws only when the row's fingerprint cannot be read.
   */
  private async attemptLoad(model: string, version: number): Promise<{ loaded: LoadedModel } | { error: unknown; fingerprint: string | undefined }> {
    // Read before verifying: a row edited meanwhile differs from it, so the next poll checks again.
    const fingerprint = (await this.readRowFingerprints([[model, version]])).get(versionKey(model, version));
    try {
      // The same function as verifyVersions (and the deployment activities): what it refuses never loads, and the reverse.
      const verified = await verifyRegisteredVersion(this.deps.store, this.deps.artifacts, model, version, this.deps.signing);
      // Routes can name a version no deployment would route to (a row edited by hand): its recorded veto still holds.
      assertServable(verified.version);
      const loaded: LoadedModel = { version: verified.version, model: verified.model };
      this.verified.set(loaded, { fingerprint, header: verified.header, ...(verified.previousKeyId !== undefined ? { previousKeyId: verified.previousKeyId } : {}) });
      this.notePreviousKey(model, version, verified.previousKeyId);
      return { loaded };
    } catch (error) {
      return { error, fingerprint };
    }
  }

  private onAnnouncement(message: string): void {
    let parsed: z.infer<typeof announcementSchema>;
    try {
      parsed = announcementSchema.parse(JSON.parse(message));
    } catch (error) {
      this.log('serving.announcement_invalid', { message: message.slice(0, 200), error: (error as Error).message });
      return;
    }
    const { model, generation } = parsed;
    // An announcement can arrive late, after a newer generation was taken: one at or below it is
    // ignored (a reset to a lower generation is taken by the poll instead, which reads the store).
    if (this.closed || generation <= (this.desired.get(model)?.generation ?? 0)) return;
    const started = ++this.reads;
    readServingRoutes(this.deps.store, model).then(
      (routes) => (routes ? this.offer(routes, { started, endedAt: this.reads, trusted: false }) : undefined),
      (error: unknown) => {
        if (error instanceof InvalidServingRoutesError) return this.disable(error);
        this.counters.readFailures++;
        this.fail('serving.read_failed', model, error);
      },
    );
  }

  /**
   * Takes routes just read, then loads what the model should serve unless it serves it already. A
   * newer generation is always taken. Routes that differ otherwise from the ones known (a lower
   * generation: a restored backup, a hand reset of the row, a rollback written on top of either; or
   * another split under the same generation) are taken from a poll that began after the read that
   * set the known ones returned: that is what the store holds now, and what a process starting now
   * serves. An announcement's read, or a read another one overtook, never moves a model back, so a
   * late reply can never bring back a generation replaced since.
   */
  private offer(routes: ServingRoutes, read: RoutesRead): Promise<void> {
    if (this.closed) return Promise.resolve();
    const { model } = routes;
    this.invalidRoutes.delete(model); // readable again
    if (!this.authenticated(routes, read)) return Promise.resolve();
    const known = this.desired.get(model);
    const newer = !known || routes.generation > known.generation;
    const replaced = !newer && read.trusted && read.started > (this.desiredReadAt.get(model) ?? 0) && !sameServingRoutes(known, routes);
    if (newer || replaced) {
      this.desired.set(model, routes);
      this.desiredReadAt.set(model, read.endedAt);
      if (replaced) this.log('serving.routes_replaced', { model, generation: routes.generation, from: known.generation, versions: describeVersions(routes) });
    }
    const current = this.snapshots.get(model);
    if (current && sameServingRoutes(writtenOf(current), this.desired.get(model)!)) return Promise.resolve();
    return this.runLoader(model);
  }

  /**
   * With the key: whether these routes may be served, i.e. their signature holds and they are not
   * older than routes this process verified. Only the poll's read refuses (an announcement's read
   * is a hint, and may be a late one): the refusal is recorded (not ready, RoutesRefusal, the log and
   * `onRoutesRefused` once per change) and the last verified routes keep serving.
   */
  private authenticated(routes: ServingRoutes, read: RoutesRead): boolean {
    const signing = this.deps.signing;
    if (signing?.signingKey === undefined) return true;
    const { model } = routes;
    const problem = servingRoutesSignatureProblem(signing, routes);
    if (problem !== undefined) {
      if (read.trusted) this.refuse(routes, 'signature', `${problem}; routes are only served as a holder of MODEL_SIGNING_KEY wrote them (a deployment, \`mlp models rollback\`, PUT /v1/admin/routes)`);
      return false;
    }
    const newest = this.newestVerified.get(model);
    const older = newest !== undefined && (routes.generation < newest.routes.generation || (routes.generation === newest.routes.generation && !sameServingRoutes(routes, newest.routes)));
    if (older) {
      // A read that began before the newest verified one returned may be late: nothing to judge.
      if (read.trusted && read.started > newest.readAt) {
        this.refuse(
          routes,
          'replay',
          `they are signed, but older than generation ${newest.routes.generation} (${describeVersions(newest.routes)}, written by ${newest.routes.updatedBy}) that this process verified before: an older signed routes row was written back over the newer one; a writer holding the key always writes a higher generation`,
        );
      }
      return false;
    }
    this.newestVerified.set(model, { routes, readAt: read.endedAt });
    const refused = this.refusedRoutes.get(model);
    if (refused) {
      this.refusedRoutes.delete(model);
      this.log('serving.routes_accepted', { model, generation: routes.generation, refused: refused.generation });
    }
    return true;
  }

  private refuse(routes: ServingRoutes, reason: RoutesRefusal['reason'], message: string): void {
    const { model } = routes;
    const event: RoutesRefusal = { model, generation: routes.generation, versions: describeVersions(routes), reason, message, serving: this.snapshots.get(model)?.routes.generation ?? null };
    const before = this.refusedRoutes.get(model);
    this.refusedRoutes.set(model, event);
    if (before && before.generation === event.generation && before.message === event.message && before.serving === event.serving) return; // told already; polls find it again
    this.counters.verificationFailures++;
    this.fail('serving.routes_refused', model, new Error(message), { generation: routes.generation, reason, versions: event.versions, serving: event.serving });
    try {
      this.deps.onRoutesRefused?.(event);
    } catch (error) {
      this.log('serving.alert_failed', { model, error: (error as Error).message });
    }
  }

  /** Starts the model's loader, or waits for the running one (which re-checks what is desired when it ends). */
  private runLoader(model: string): Promise<void> {
    return this.exclusive(model, () => this.loadDesired(model));
  }

  /** Runs `task` (which never rejects) when no other task of the model runs: loads and re-checks take turns. */
  private exclusive(model: string, task: () => Promise<void>): Promise<void> {
    const running = this.loaders.get(model);
    // A newer generation may have arrived after the running task's last check: chain one more pass.
    if (running) return running.then(() => this.exclusive(model, task));
    const run = task().finally(() => this.loaders.delete(model));
    this.loaders.set(model, run);
    return run;
  }

  /** Loads the desired routes of a model until it serves them, or an attempt fails (the next poll retries). */
  private async loadDesired(model: string): Promise<void> {
    // Versions loaded for routes replaced before they could be swapped in: the next pass reuses them
    // (a canary's weight changing mid-load needs nothing new), so frequent route changes cannot keep
    // every pass reloading the same artifacts.
    let spare: ReadonlyMap<number, LoadedModel> = new Map();
    for (;;) {
      const target = this.desired.get(model);
      const current = this.snapshots.get(model);
      // Whatever the generations: the routes the store holds are served, also a lower generation (offer).
      if (this.closed || !target || (current && sameServingRoutes(writtenOf(current), target))) return;
      try {
        const { models, degraded } = await this.loadVersions(target, current, spare);
        // Dropped or disabled meanwhile (its routes deleted or unreadable): nothing to swap in.
        if (this.closed || !this.desired.has(model)) return;
        // Other routes arrived while these loaded (a rollback during a canary's load): swapping these
        // in would serve a split already replaced, for as long as the next load takes. The current
        // snapshot keeps serving until the newer routes are loaded.
        const desired = this.desired.get(model)!;
        if (!sameServingRoutes(desired, target)) {
          this.log('serving.load_superseded', { model, generation: target.generation, by: desired.generation, keeping: current?.routes.generation ?? null });
          spare = models;
          continue;
        }
        this.snapshots.set(model, this.snapshotOf(target, models, degraded));
        this.loadFailures.delete(model);
        this.anchorsWithdrawn.delete(model);
        this.counters.swaps++;
        this.log('serving.swap', { model, generation: target.generation, from: current?.routes.generation ?? null, versions: [...models.keys()], ...(degraded ? { withdrawn: degraded.withdrawn.map((w) => w.version) } : {}) });
        for (const w of degraded?.withdrawn ?? []) {
          this.counters.verificationFailures++;
          this.recordWithdrawal(model, target.generation, w, degraded!.anchor);
          this.fail('serving.version_withdrawn', model, new Error(w.message), { generation: target.generation, version: w.version, variants: w.variants, reason: w.reason, servedBy: `v${degraded!.anchor.version} (${degraded!.anchor.variant})` });
        }
      } catch (error) {
        this.counters.verificationFailures++;
        if (error instanceof UnservableGenerationError && !current && this.anchorsWithdrawn.get(model)?.version !== error.version) {
          // The model is not served because its approved version is refused: a withdrawal (counted and told once, not per retry).
          const entry = this.withdrawnEntry(target, error.version, error.refusal, error.fingerprint);
          this.anchorsWithdrawn.set(model, entry);
          this.recordWithdrawal(model, target.generation, entry, undefined);
        }
        this.loadFailures.set(model, { generation: target.generation, message: error instanceof Error ? error.message : String(error) });
        this.fail('serving.load_failed', model, error, { generation: target.generation, keeping: current?.routes.generation ?? null });
        // Try again at once only if other routes arrived meanwhile; otherwise wait for the next poll.
        const desired = this.desired.get(model);
        if (desired && !sameServingRoutes(desired, target)) continue;
        return;
      }
    }
  }

  /**
   * Every version the routes need: reused from the current snapshot (or loaded by a pass whose routes
   * were replaced meanwhile: `spare`), or loaded and verified now.
   * Any version failing throws while a snapshot serves (it keeps serving; the poll retries the whole
   * generation). With none serving (a process starting, or the model withdrawn), a version other
   * than the anchor that verification refuses is left out instead (degraded: the anchor answers its
   * traffic), rather than serving nothing; a refused anchor, or a store that cannot be read, throws.
   */
  private async loadVersions(routes: ServingRoutes, current: ServingSnapshot | undefined, spare: ReadonlyMap<number, LoadedModel> = new Map()): Promise<{ models: Map<number, LoadedModel>; degraded?: ServingDegradation }> {
    await this.ensureRuntimes();
    const needed = new Set([...routes.routes.map((r) => r.version), ...(routes.shadow ? [routes.shadow.version] : [])]);
    const models = new Map<number, LoadedModel>();
    const refused = new Map<number, { error: unknown; fingerprint: string | undefined }>();
    const cannotLoad = (version: number, error: unknown) => new Error(`${routes.model} v${version} cannot be loaded: ${(error as Error).message}`, { cause: error });
    for (const version of [...needed].sort((a, b) => a - b)) {
      const reused = current?.models.get(version) ?? spare.get(version);
      if (reused) {
        models.set(version, reused);
        continue;
      }
      let attempt: Awaited<ReturnType<ServingModels['attemptLoad']>>;
      try {
        attempt = await this.attemptLoad(routes.model, version);
      } catch (error) {
        throw cannotLoad(version, error);
      }
      if ('loaded' in attempt) {
        models.set(version, attempt.loaded);
        continue;
      }
      if (current || !isRefusal(attempt.error)) throw cannotLoad(version, attempt.error);
      refused.set(version, attempt);
    }
    // One model name, one target: a version of another label than the champion's is refused as a
    // failing one is (routes written by hand are not checked as the admin route and deployments check them).
    let mismatched: Map<number, LabelMismatchError>;
    try {
      mismatched = await labelMismatches(this.deps.store, routes.model, new Map([...models].map(([version, loaded]) => [version, loaded.version.label])), (anchorRoute(routes) ?? routes.routes.find((r) => r.weight > 0))?.version);
    } catch (error) {
      throw cannotLoad([...models.keys()][0] ?? [...refused.keys()][0], error);
    }
    for (const [version, error] of [...mismatched].sort(([a], [b]) => a - b)) {
      if (current) throw cannotLoad(version, error);
      refused.set(version, { error, fingerprint: this.verified.get(models.get(version)!)?.fingerprint });
      models.delete(version);
    }
    if (refused.size === 0) return { models };
    let anchor: Route | undefined;
    try {
      anchor = await this.anchorOf(routes);
    } catch (error) {
      throw cannotLoad([...refused.keys()][0], error);
    }
    const anchorRefusal = anchor ? refused.get(anchor.version) : undefined;
    if (!anchor || anchorRefusal) {
      const [version, { error, fingerprint }] = anchor && anchorRefusal ? [anchor.version, anchorRefusal] : [...refused][0];
      throw new UnservableGenerationError(cannotLoad(version, error).message, version, error, fingerprint);
    }
    const withdrawn = [...refused].map(([version, r]) => this.withdrawnEntry(routes, version, r.error, r.fingerprint));
    return { models, degraded: { written: routes, anchor, withdrawn } };
  }

  /** The wasm runtimes some algorithms need to restore; retried on the next load when they fail. */
  private async ensureRuntimes(): Promise<void> {
    this.runtimes ??= loadModelRuntimes().catch((error: unknown) => {
      this.runtimes = undefined;
      // Models of other algorithms still load; a neural or SVM restore will then fail with its own message.
      this.fail('serving.runtimes_failed', undefined, error);
    });
    await this.runtimes;
  }

  private fail(event: string, model: string | undefined, error: unknown, detail: Record<string, unknown> = {}): void {
    const message = error instanceof Error ? error.message : String(error);
    this.lastError = { ...(model !== undefined ? { model } : {}), message, at: new Date().toISOString() };
    this.log(event, { ...(model !== undefined ? { model } : {}), error: message, ...detail });
  }
}
