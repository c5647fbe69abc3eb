/**
 * The models a prediction API process serves. Per model name it holds one immutable snapshot
 * (routes + every loaded version they need); requests read the snapshot once at their start.
 * Changes arrive on `serving:routes` (pub/sub) or by polling; the versions a new split needs are
 * loaded and verified off the request path, then the snapshot is replaced in one assignment. A
 * version that fails to load never takes traffic: the old snapshot stays and the next poll retries.
 * A routes row this code cannot read stops only its own model. Each poll also re-checks the
 * registry rows of the loaded versions (one query; a row that changed since it was verified is
 * checked again), so an edit after loading is refused here as a process starting now refuses it.
 */
import crypto from 'node:crypto';
import { z } from 'zod';
import { loadModelRuntimes } from '../../models/algorithms';
import type { ArtifactHeader } from '../../models/artifact';
import type { TrainedModel } from '../../models/model';
import type { Cache } from '../cache/cache';
import { assertServable, getModelVersion, RegistryError, verifyRegisteredVersion, type ModelVersion } from '../registry/model-registry';
import { recordedFieldMismatch } from '../registry/recorded-fields';
import { rowSignatureProblem, type RowSigning } from '../registry/row-signature';
import { ArtifactVerificationError } from '../registry/verify-artifact';
import type { Database } from '../store/database';
import { InvalidServingRoutesError, readEveryServingRoutes, readServingRoutes, SERVING_ROUTES_CHANNEL, type ServingRoutes } from './serving-routes';
import type { ArtifactStore } from '../artifacts/artifact-store';

export interface LoadedModel {
  version: ModelVersion;
  model: TrainedModel;
}

export interface ServingSnapshot {
  routes: ServingRoutes;
  /** Every version the routes name (served routes and shadow), loaded and verified. */
  models: ReadonlyMap<number, LoadedModel>;
  loadedAt: string;
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
}

export type ServingLog = (event: string, detail: Record<string, unknown>) => void;

export interface ServingModelsDeps {
  store: Database;
  cache: Cache;
  /** Where the model artifacts are (lib/artifacts): the directory or the object store the workers write to. */
  artifacts: ArtifactStore;
  /** How often the routes are re-read in case an announcement was missed (ms, default 2000). */
  pollMs?: number;
  log?: ServingLog;
  /** The deployment's MODEL_SIGNING_KEY: with it, only versions whose registry row it signed are served (lib/registry/row-signature.ts). */
  signing?: RowSigning;
}

/** "v3 (champion), v4 (canary), v5 (shadow)". */
function describeVersions(routes: ServingRoutes): string {
  return [...routes.routes.map((r) => `v${r.version} (${r.variant})`), ...(routes.shadow ? [`v${routes.shadow.version} (shadow)`] : [])].join(', ');
}

const announcementSchema = z.object({ model: z.string(), generation: z.number().int() });

/** What a loaded version was verified against: its registry row (as a fingerprint) and its artifact's header. */
interface VerifiedRow {
  /** Fingerprint of the row read just before it was verified; undefined when there was none. */
  fingerprint: string | undefined;
  header: ArtifactHeader;
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

/** The version's row or artifact is refused (edited, unsigned, vetoed, deleted), as opposed to a store that could not be read. */
function isRefusal(error: unknown): boolean {
  return error instanceof ArtifactVerificationError || error instanceof RegistryError;
}

export class ServingModels {
  private readonly snapshots = new Map<string, ServingSnapshot>();
  /** The newest routes read per model: what the loader works towards. */
  private readonly desired = new Map<string, ServingRoutes>();
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
  private unsubscribe: (() => Promise<void>) | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private closed = false;
  private runtimes: Promise<unknown> | undefined;
  private readonly pollMs: number;
  private readonly log: ServingLog;

  constructor(private readonly deps: ServingModelsDeps) {
    this.pollMs = deps.pollMs ?? 2000;
    this.log = deps.log ?? (() => undefined);
    if (!(this.pollMs > 0)) throw new Error(`ServingModels: pollMs must be positive, got ${deps.pollMs}`);
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
    return [...new Set([...this.desired.keys(), ...this.snapshots.keys(), ...this.invalidRoutes.keys()])].sort();
  }

  /** Why a model with routes has no snapshot, when a read or load said so (for the 503 a request gets). */
  whyUnavailable(model: string): string | undefined {
    if (this.snapshots.has(model)) return undefined;
    const invalid = this.invalidRoutes.get(model);
    return invalid ? `its routes (generation ${invalid.generation}) cannot be read: ${invalid.message}` : this.loadFailures.get(model)?.message;
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
      if (current && current.routes.generation >= routes.generation) continue;
      const routed = describeVersions(routes);
      const failed = this.loadFailures.get(model);
      const failure = failed ? `; loading generation ${failed.generation} failed: ${failed.message}` : '';
      problems.push(current ? `${model}: routes generation ${routes.generation} name ${routed} but generation ${current.routes.generation} (${describeVersions(current.routes)}) is what is loaded${failure}` : `${model}: routes generation ${routes.generation} name ${routed}, none loaded yet${failure}`);
    }
    for (const [model, invalid] of this.invalidRoutes) problems.push(`${model}: not served, its routes (generation ${invalid.generation}) cannot be read: ${invalid.message}`);
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
    for (const [model, routes] of this.desired) if (routes.generation > (generations[model] ?? 0)) pending[model] = routes.generation;
    return { ...this.counters, ...(this.lastError ? { lastError: { ...this.lastError } } : {}), generations, pending };
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
    try {
      all = await readEveryServingRoutes(this.deps.store);
    } catch (error) {
      this.counters.readFailures++;
      this.fail('serving.read_failed', undefined, error);
      throw error;
    }
    if (this.closed) return;
    const present = new Set([...all.routes.map((r) => r.model), ...all.invalid.map((e) => e.model)]);
    for (const model of new Set([...this.desired.keys(), ...this.invalidRoutes.keys()])) {
      if (present.has(model)) continue;
      // Its routes were removed: stop serving it.
      this.desired.delete(model);
      this.snapshots.delete(model);
      this.loadFailures.delete(model);
      this.invalidRoutes.delete(model);
      this.log('serving.model_dropped', { model });
    }
    for (const invalid of all.invalid) this.disable(invalid);
    await this.recheckLoadedRows();
    await Promise.all(all.routes.map((routes) => this.offer(routes)));
  }

  /**
   * A model whose routes row cannot be read: stop serving it (its intended split is unknown, and a
   * process starting now could not serve it either) and say why, until the row is rewritten.
   */
  private disable(invalid: InvalidServingRoutesError): void {
    const { model, generation, message } = invalid;
    const served = this.snapshots.get(model)?.routes.generation ?? null;
    this.desired.delete(model);
    this.snapshots.delete(model);
    this.loadFailures.delete(model);
    if (this.invalidRoutes.get(model)?.message === message) return; // reported already; polls find it again
    this.invalidRoutes.set(model, { generation, message });
    this.fail('serving.routes_invalid', model, invalid, { generation, stopped: served });
  }

  /**
   * Re-checks the loaded versions whose registry row changed since they were verified: one query
   * per poll (fingerprints of the rows); the row checks, and an artifact read only when the row now
   * names another artifact, run for changed rows alone.
   */
  private async recheckLoadedRows(): Promise<void> {
    const pairs: Array<[string, number]> = [];
    for (const [model, snapshot] of this.snapshots) for (const version of snapshot.models.keys()) pairs.push([model, version]);
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

  /**
   * Checks again each loaded version of the model whose row changed. All pass: a snapshot with the
   * same routes and the rows as they are now. One is refused: the snapshot is withdrawn, so the
   * model serves what a process starting now would (the loader retries the routes on each poll).
   */
  private async recheck(model: string, fingerprints: ReadonlyMap<string, string>): Promise<void> {
    const snapshot = this.snapshots.get(model);
    if (this.closed || !snapshot) return;
    const models = new Map(snapshot.models);
    for (const [version, loaded] of snapshot.models) {
      const fingerprint = fingerprints.get(versionKey(model, version));
      const before = this.verified.get(loaded);
      if (fingerprint !== undefined && fingerprint === before?.fingerprint) continue;
      try {
        models.set(version, await this.reverify(model, loaded, before, fingerprint));
      } catch (error) {
        if (this.snapshots.get(model) !== snapshot) return;
        if (!isRefusal(error)) {
          // The store or artifact store could not be read: no verdict, so keep serving and check on the next poll.
          this.counters.readFailures++;
          this.fail('serving.recheck_failed', model, error, { version });
          return;
        }
        this.snapshots.delete(model);
        this.counters.verificationFailures++;
        const message = `v${version} was loaded but its registry row changed and no longer verifies, so generation ${snapshot.routes.generation} is not served: ${(error as Error).message}`;
        this.loadFailures.set(model, { generation: snapshot.routes.generation, message });
        this.fail('serving.withdrawn', model, error, { generation: snapshot.routes.generation, version });
        return;
      }
    }
    if (this.closed || this.snapshots.get(model) !== snapshot) return;
    this.snapshots.set(model, { routes: snapshot.routes, models, loadedAt: new Date().toISOString() });
    this.log('serving.reverified', { model, generation: snapshot.routes.generation, versions: [...models.keys()] });
  }

  /**
   * The checks verification makes on a registry row, against the artifact this process already
   * verified and holds: the signature (with the key), the fields the header also records, the
   * serving veto. A row that now names another artifact is loaded and verified in full.
   */
  private async reverify(model: string, loaded: LoadedModel, before: VerifiedRow | undefined, fingerprint: string | undefined): Promise<LoadedModel> {
    const row = await getModelVersion(this.deps.store, model, loaded.version.version); // RegistryError when deleted
    if (!before || row.artifactSha256 !== loaded.version.artifactSha256 || row.artifactBytes !== loaded.version.artifactBytes) return this.loadVersion(model, row.version);
    const key = this.deps.signing?.signingKey;
    const problem = (key !== undefined ? rowSignatureProblem(key, row) : undefined) ?? recordedFieldMismatch(row, before.header, 'registry');
    if (problem) throw new ArtifactVerificationError(model, row.version, problem);
    assertServable(row);
    const next: LoadedModel = { version: row, model: loaded.model };
    this.verified.set(next, { fingerprint, header: before.header });
    return next;
  }

  /** Loads and verifies one version (what a process starting now does), remembering what it was verified against. */
  private async loadVersion(model: string, version: number): Promise<LoadedModel> {
    // Read before verifying: a row edited meanwhile differs from it, so the next poll checks again.
    const fingerprint = (await this.readRowFingerprints([[model, version]])).get(versionKey(model, version));
    // The same function as verifyVersions (and the deployment activities): what it refuses never loads, and the reverse.
    const verified = await verifyRegisteredVersion(this.deps.store, this.deps.artifacts, model, version, this.deps.signing);
    // Routes can name a version no deployment would route to (a row edited by hand): its recorded veto still holds.
    assertServable(verified.version);
    const loaded: LoadedModel = { version: verified.version, model: verified.model };
    this.verified.set(loaded, { fingerprint, header: verified.header });
    return loaded;
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
    if (this.closed || generation <= (this.desired.get(model)?.generation ?? 0)) return;
    readServingRoutes(this.deps.store, model).then(
      (routes) => (routes ? this.offer(routes) : undefined),
      (error: unknown) => {
        if (error instanceof InvalidServingRoutesError) return this.disable(error);
        this.counters.readFailures++;
        this.fail('serving.read_failed', model, error);
      },
    );
  }

  /** Takes routes just read; loads them unless the model already serves (or is loading) this generation or a newer one. */
  private offer(routes: ServingRoutes): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.invalidRoutes.delete(routes.model); // readable again
    const known = this.desired.get(routes.model);
    if (!known || routes.generation > known.generation) this.desired.set(routes.model, routes);
    const current = this.snapshots.get(routes.model)?.routes.generation ?? 0;
    if (this.desired.get(routes.model)!.generation <= current) return Promise.resolve();
    return this.runLoader(routes.model);
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
    for (;;) {
      const target = this.desired.get(model);
      const current = this.snapshots.get(model);
      if (this.closed || !target || target.generation <= (current?.routes.generation ?? 0)) return;
      try {
        const models = await this.loadVersions(target, current);
        const latest = this.snapshots.get(model)?.routes.generation ?? 0;
        if (this.closed || !this.desired.has(model) || target.generation <= latest) return;
        this.snapshots.set(model, { routes: target, models, loadedAt: new Date().toISOString() });
        this.loadFailures.delete(model);
        this.counters.swaps++;
        this.log('serving.swap', { model, generation: target.generation, from: current?.routes.generation ?? null, versions: [...models.keys()] });
      } catch (error) {
        this.counters.verificationFailures++;
        this.loadFailures.set(model, { generation: target.generation, message: error instanceof Error ? error.message : String(error) });
        this.fail('serving.load_failed', model, error, { generation: target.generation, keeping: current?.routes.generation ?? null });
        // Try again at once only if a newer split arrived meanwhile; otherwise wait for the next poll.
        if ((this.desired.get(model)?.generation ?? 0) > target.generation) continue;
        return;
      }
    }
  }

  /** Every version the routes need: reused from the current snapshot, or loaded and verified now. */
  private async loadVersions(routes: ServingRoutes, current: ServingSnapshot | undefined): Promise<Map<number, LoadedModel>> {
    await this.ensureRuntimes();
    const needed = new Set([...routes.routes.map((r) => r.version), ...(routes.shadow ? [routes.shadow.version] : [])]);
    const models = new Map<number, LoadedModel>();
    for (const version of [...needed].sort((a, b) => a - b)) {
      const reused = current?.models.get(version);
      if (reused) {
        models.set(version, reused);
        continue;
      }
      let loaded: LoadedModel;
      try {
        loaded = await this.loadVersion(routes.model, version);
      } catch (error) {
        throw new Error(`${routes.model} v${version} cannot be loaded: ${(error as Error).message}`, { cause: error });
      }
      models.set(version, loaded);
    }
    return models;
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
