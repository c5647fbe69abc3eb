import { algorithmByName } from '../models/algorithms';
import type { ArtifactStore } from '../lib/artifacts/artifact-store';
import { configuredSigning } from '../lib/config';
import { aliasVersion, getModelVersion, verifyRegisteredVersion, versionExists, type ModelVersion } from '../lib/registry/model-registry';
import { servingVeto } from '../lib/registry/promotion';
import type { RowSigning } from '../lib/registry/row-signature';
import { ArtifactVerificationError } from '../lib/registry/verify-artifact';
import type { Database } from '../lib/store/database';
import { getFeatureSetColumns } from '../lib/store/features';
import { BadInputError } from '../lib/errors';
import { decideWarmStarts, type SearchedThrough, type WarmStartChampion, type WarmStartConfig, type WarmStartDecision } from '../lib/training/warm-start';
import type { Params } from '../lib/tuning/search-space';
import { withFailureMapping } from './failures';

export interface ResolveWarmStartInput {
  /** The experiment's model name: its champion is the one continued. */
  name: string;
  algorithms: string[];
  config: WarmStartConfig;
  featureSetVersion: string;
  label: Record<string, unknown>;
  /** Last decision day of this run's dataset. */
  lastDay: string;
  /** First day of this run's evaluation period (PreparedDataset.evaluationFrom); absent: not known, no warm start. */
  evaluationFrom?: string;
}

export interface WarmStartActivityDeps {
  store: Database;
  artifacts: ArtifactStore;
  /** The registry's signing key (MODEL_SIGNING_KEY); default: from the environment, as the other activities do. */
  signing?: RowSigning;
}

/** Which of a run's algorithms start from the champion, and why the others do not (lib/training/warm-start.ts). */
export function warmStartActivities({ store, artifacts, signing = configuredSigning() }: WarmStartActivityDeps) {
  return {
    async resolveWarmStart(input: ResolveWarmStartInput): Promise<WarmStartDecision[]> {
      return withFailureMapping(async () => {
        const columns = await getFeatureSetColumns(store, input.featureSetVersion);
        if (!columns) throw new BadInputError(`feature set ${input.featureSetVersion} is not in the store`, 'INVALID_INPUT');
        const version = await aliasVersion(store, input.name, 'champion');
        const target = { featureSetVersion: input.featureSetVersion, columns, label: input.label, lastDay: input.lastDay, ...(input.evaluationFrom !== undefined ? { evaluationFrom: input.evaluationFrom } : {}) };
        const decide = (champion: WarmStartChampion | undefined) => decideWarmStarts(input.name, input.algorithms, input.config, champion, target, (a) => algorithmByName(a).continueFit !== undefined);
        if (version === undefined) return decide(undefined);
        if (!(await versionExists(store, input.name, version))) {
          throw new BadInputError(`cannot warm-start from the champion: the champion alias names v${version}, whose registry row is gone; first serve a version that verifies: \`mlp models rollback ${input.name} --to-version N --reason "…"\` serves N and moves the alias to it, or run without warmStart`, 'INVALID_INPUT');
        }
        // First from the row as stored (the columns its feature set lists): a champion no algorithm
        // would continue (another feature set, label or algorithm) is not read further.
        const row = await getModelVersion(store, input.name, version);
        const tentative = decide(championOf(input.name, row, (await getFeatureSetColumns(store, row.featureSetVersion)) ?? []));
        if (!tentative.some((d) => d.warm)) return tentative;
        // One would: it is continued only if serving would accept it (artifact, registry row and its
        // signature, feature set), so a tampered champion never seeds the next version; the columns it
        // was fitted on come from its verified artifact.
        let verified: Awaited<ReturnType<typeof verifyRegisteredVersion>>;
        try {
          verified = await verifyRegisteredVersion(store, artifacts, input.name, version, signing);
        } catch (error) {
          if (error instanceof ArtifactVerificationError) throw new BadInputError(`cannot warm-start from the champion: ${error.message}; restore it, move the champion alias, or run without warmStart`, 'ARTIFACT_INVALID');
          throw error;
        }
        return decide(championOf(input.name, verified.version, verified.header.featureNames));
      });
    },
  };
}

function championOf(model: string, v: ModelVersion, featureNames: readonly string[]): WarmStartChampion {
  const trainedThrough = v.lineage.trainedThrough;
  return {
    model,
    version: v.version,
    algorithm: v.algorithm,
    params: v.params as Params,
    featureSetVersion: v.featureSetVersion,
    featureNames,
    label: v.label,
    artifactSha256: v.artifactSha256,
    trainedThrough: typeof trainedThrough === 'string' ? trainedThrough : undefined,
    searched: searchedThroughOfVersion(v),
    servingVeto: servingVeto(v.metrics),
  };
}

/**
 * The last day the version's hyperparameters were chosen on, as its lineage records it. A version
 * registered before it was recorded that trained from scratch chose them on folds of the rows whose
 * labels ended before its own evaluation period: that period's first day bounds them. One that was
 * warm-started carried its parameters from an earlier search whose days it does not say: unknown.
 */
function searchedThroughOfVersion(v: ModelVersion): SearchedThrough | undefined {
  const { searchThrough, searchBefore, warmStartedFrom } = v.lineage;
  if (typeof searchThrough === 'string') return { through: searchThrough };
  if (typeof searchBefore === 'string') return { before: searchBefore };
  if (warmStartedFrom !== undefined) return undefined;
  const from = (v.metrics.outOfSample as { period?: { from?: unknown } } | undefined)?.period?.from;
  return typeof from === 'string' ? { before: from } : undefined;
}
