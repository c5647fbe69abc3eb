/**
 * Activities of deploymentWorkflow: thin adapters over the serving routes (lib/serving), the
 * registry aliases and the deployment analyses (lib/deployment). All idempotent, so retries are safe.
 */
import type { Cache } from '../lib/cache/cache';
import type { ArtifactStore } from '../lib/artifacts/artifact-store';
import { abReportInStore, type AbReport } from '../lib/deployment/ab-report';
import { analyseCanaryInStore, type CanaryAnalysis, type CanaryThresholdsInput } from '../lib/deployment/canary-analysis';
import { logDeploymentAnalysis, type AnalysisLogEntry } from '../lib/deployment/analysis-log';
import { parseDeploymentRequest, type DeploymentPlan } from '../lib/deployment/plan';
import { openAlerts } from '../lib/alerts/alert-store';
import { BadInputError } from '../lib/errors';
import { dataSubject } from '../lib/monitoring/monitoring-rules';
import { aliasVersion, getModelVersion, moveAlias, ServingVetoError, verifyRegisteredVersion, type ModelVersion } from '../lib/registry/model-registry';
import { servingVeto } from '../lib/registry/promotion';
import { ArtifactVerificationError } from '../lib/registry/verify-artifact';
import { singleRoute, writeServingRoutes, type WriteServingRoutesInput } from '../lib/serving/serving-routes';
import type { Database } from '../lib/store/database';
import { withFailureMapping } from './failures';
import { loadConfig } from '../lib/config';
import type { RowSigning } from '../lib/registry/row-signature';

export interface BeginDeploymentInput {
  deploymentId: string;
  request: unknown;
}

/** Alert rules about a model's input data: while one is open, a deployment of that model does not move traffic. */
export const DEPLOYMENT_BLOCKING_RULES = ['data_stale', 'data_quality'];

/**
 * Every version a traffic move would route to must pass the same artifact verification the API's
 * loader applies, and must not be vetoed by its recorded evaluation (a tripped guard); otherwise the
 * move would point aliases and routes at a model no process may serve.
 * A failure is final (retrying cannot repair the file), so the workflow fails before anything moves.
 */
async function verifyVersions(store: Database, artifacts: ArtifactStore, signing: RowSigning, model: string, versions: Iterable<number>, why: string, options: { veto?: boolean } = {}): Promise<void> {
  for (const version of [...new Set(versions)].sort((a, b) => a - b)) {
    let verified: ModelVersion;
    try {
      verified = (await verifyRegisteredVersion(store, artifacts, model, version, signing)).version;
    } catch (error) {
      if (error instanceof ArtifactVerificationError) throw new BadInputError(`${why}: ${error.message}; nothing was moved (restore the artifact or register a new version)`, 'ARTIFACT_INVALID');
      throw error;
    }
    // A version its own evaluation vetoed (a tripped guard) never takes traffic, whoever asks.
    const veto = options.veto === false ? undefined : servingVeto(verified.metrics);
    if (veto !== undefined) throw new BadInputError(`${why}: ${new ServingVetoError(model, version, veto).message}`, 'SERVING_VETOED');
  }
}

/** `signing`: the registry's signing key (MODEL_SIGNING_KEY); default: from the environment, as the alert channels are. */
export function deploymentActivities({ store, cache, artifacts, signing = { signingKey: loadConfig().modelSigningKey } }: { store: Database; cache: Cache; artifacts: ArtifactStore; signing?: RowSigning }) {
  return {
    /** Validates the request against the registry and records the deployment (once per workflow id). */
    async beginDeployment(input: BeginDeploymentInput): Promise<{ plan: DeploymentPlan; championVersion: number | null }> {
      return withFailureMapping(async () => {
        const plan = parseDeploymentRequest(input.request);
        try {
          await getModelVersion(store, plan.model, plan.challengerVersion);
        } catch (error) {
          throw new BadInputError(`cannot deploy: ${(error as Error).message}`);
        }
        const existing = await store.db.selectFrom('deployments').select('champion_version').where('id', '=', input.deploymentId).executeTakeFirst();
        let championVersion = existing ? (existing.champion_version === null ? null : Number(existing.champion_version)) : ((await aliasVersion(store, plan.model, 'champion')) ?? null);
        // The challenger takes traffic and the champion keeps it (and takes it back on a rollback): both must be servable.
        await verifyVersions(store, artifacts, signing, plan.model, [plan.challengerVersion], `cannot deploy ${plan.model} v${plan.challengerVersion}`);
        if (championVersion !== null && championVersion !== plan.challengerVersion) {
          await verifyVersions(store, artifacts, signing, plan.model, [championVersion], `cannot deploy ${plan.model} v${plan.challengerVersion}`, { veto: false });
          // A champion its own evaluation vetoes can neither share traffic nor take it back: the
          // challenger replaces it outright, as a first champion is served (deploying a clean version
          // is the remedy the veto names).
          if (!existing && servingVeto((await getModelVersion(store, plan.model, championVersion)).metrics) !== undefined) championVersion = null;
        }
        if (existing) return { plan, championVersion };
        await store.db
          .insertInto('deployments')
          .values({ id: input.deploymentId, model: plan.model, mode: plan.mode, champion_version: championVersion, challenger_version: plan.challengerVersion, status: 'running', plan: JSON.stringify(plan), outcome: null, started_by: plan.startedBy, started_at: new Date().toISOString(), ended_at: null })
          .execute();
        if (championVersion !== null && championVersion !== plan.challengerVersion) {
          await moveAlias(store, { name: plan.model, alias: 'canary', version: plan.challengerVersion, movedBy: `deployment ${input.deploymentId}`, reason: `${plan.mode} deployment started by ${plan.startedBy}` });
        }
        return { plan, championVersion };
      });
    },

    /** Writes a traffic split; every API process picks it up within seconds. */
    async setTrafficSplit(input: WriteServingRoutesInput): Promise<number> {
      return withFailureMapping(async () => {
        await verifyVersions(store, artifacts, signing, input.model, [...input.routes.map((r) => r.version), ...(input.shadow ? [input.shadow.version] : [])], `cannot route ${input.model} traffic`);
        return (await writeServingRoutes(store, cache, input)).generation;
      });
    },

    /** Canary (or shadow) vs reference on every logged request since the deployment began. */
    async analyseCanary(input: { model: string; canary: string; reference: string; since: string; thresholds: CanaryThresholdsInput; log?: AnalysisLogEntry }): Promise<CanaryAnalysis> {
      return withFailureMapping(async () => {
        const analysis = await analyseCanaryInStore(store, { model: input.model, since: input.since, canary: input.canary, reference: input.reference, thresholds: input.thresholds });
        // Workflows started before the log existed pass no entry.
        if (input.log) await logDeploymentAnalysis(store, input.log, { verdict: analysis.verdict, reasons: analysis.reasons, detail: analysis });
        return analysis;
      });
    },

    async analyseAbTest(input: { model: string; since: string; variants: string[]; alpha: number; minSamplesPerVariant: number; maxSamplesPerVariant?: number; log?: AnalysisLogEntry }): Promise<AbReport> {
      return withFailureMapping(async () => {
        const { log, ...query } = input;
        const report = await abReportInStore(store, query);
        if (log) await logDeploymentAnalysis(store, log, { verdict: report.decision, reasons: report.reasons, detail: report });
        return report;
      });
    },

    /** The challenger takes all traffic and the champion alias; canary / challenger aliases are cleared. */
    async promoteChallenger(input: { deploymentId: string; model: string; challengerVersion: number; championVersion: number | null; movedBy: string; reason: string }): Promise<void> {
      return withFailureMapping(async () => {
        await verifyVersions(store, artifacts, signing, input.model, [input.challengerVersion], `cannot promote ${input.model} v${input.challengerVersion}`);
        await writeServingRoutes(store, cache, { model: input.model, mode: 'single', routes: singleRoute(input.challengerVersion), updatedBy: input.movedBy, reason: input.reason });
        await moveAlias(store, { name: input.model, alias: 'champion', version: input.challengerVersion, movedBy: input.movedBy, reason: input.reason });
        for (const alias of ['canary', 'challenger'] as const) {
          if ((await aliasVersion(store, input.model, alias)) === input.challengerVersion) await moveAlias(store, { name: input.model, alias, version: undefined, movedBy: input.movedBy, reason: `promoted to champion: ${input.reason}` });
        }
      });
    },

    /** Traffic back to the champion, canary alias cleared (the challenger stays registered). */
    async rollBackDeployment(input: { deploymentId: string; model: string; championVersion: number | null; challengerVersion: number; movedBy: string; reason: string }): Promise<void> {
      return withFailureMapping(async () => {
        if (input.championVersion !== null) {
          await writeServingRoutes(store, cache, { model: input.model, mode: 'single', routes: singleRoute(input.championVersion), updatedBy: input.movedBy, reason: input.reason });
        }
        if ((await aliasVersion(store, input.model, 'canary')) === input.challengerVersion) {
          await moveAlias(store, { name: input.model, alias: 'canary', version: undefined, movedBy: input.movedBy, reason: input.reason });
        }
      });
    },

    /**
     * Open alerts that must hold a deployment's next traffic move: stale or bad data for this model
     * (monitoring's data rules). Empty when the way is clear.
     */
    async deploymentBlockers(input: { model: string }): Promise<string[]> {
      return withFailureMapping(async () => {
        const open = await openAlerts(store, { rules: DEPLOYMENT_BLOCKING_RULES, subjectPrefix: dataSubject(input.model) });
        return open.map((a) => `${a.rule} (alert ${a.id}): ${a.message}`);
      });
    },

    async finishDeployment(input: { deploymentId: string; status: string; outcome: unknown }): Promise<void> {
      return withFailureMapping(async () => {
        await store.db.updateTable('deployments').set({ status: input.status, outcome: JSON.stringify(input.outcome), ended_at: new Date().toISOString() }).where('id', '=', input.deploymentId).execute();
      });
    },
  };
}

export type DeploymentActivities = ReturnType<typeof deploymentActivities>;
