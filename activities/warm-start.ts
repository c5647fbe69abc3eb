import { decodeArtifact } from '../models/artifact';
import { algorithmByName } from '../models/algorithms';
import { aliasVersion, getModelVersion } from '../lib/registry/model-registry';
import type { Database } from '../lib/store/database';
import { getFeatureSetColumns } from '../lib/store/features';
import { BadInputError } from '../lib/errors';
import { decideWarmStarts, type WarmStartChampion, type WarmStartConfig, type WarmStartDecision } from '../lib/training/warm-start';
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
}

export interface WarmStartActivityDeps {
  store: Database;
  /** An artifact's verified bytes by sha256 (the artifact store). */
  readArtifact: (sha256: string) => Uint8Array | Promise<Uint8Array>;
}

/** Which of a run's algorithms start from the champion, and why the others do not (lib/training/warm-start.ts). */
export function warmStartActivities({ store, readArtifact }: WarmStartActivityDeps) {
  return {
    async resolveWarmStart(input: ResolveWarmStartInput): Promise<WarmStartDecision[]> {
      return withFailureMapping(async () => {
        const columns = await getFeatureSetColumns(store, input.featureSetVersion);
        if (!columns) throw new BadInputError(`feature set ${input.featureSetVersion} is not in the store`, 'INVALID_INPUT');
        const version = await aliasVersion(store, input.name, 'champion');
        let champion: WarmStartChampion | undefined;
        if (version !== undefined) {
          const v = await getModelVersion(store, input.name, version);
          // The columns the champion was fitted on come from its artifact (verified on read).
          const { header } = decodeArtifact(await readArtifact(v.artifactSha256));
          const trainedThrough = v.lineage.trainedThrough;
          champion = {
            model: input.name,
            version,
            algorithm: v.algorithm,
            params: v.params as Params,
            featureSetVersion: v.featureSetVersion,
            featureNames: header.featureNames,
            label: v.label,
            artifactSha256: v.artifactSha256,
            trainedThrough: typeof trainedThrough === 'string' ? trainedThrough : undefined,
          };
        }
        const target = { featureSetVersion: input.featureSetVersion, columns, label: input.label, lastDay: input.lastDay };
        return decideWarmStarts(input.name, input.algorithms, input.config, champion, target, (a) => algorithmByName(a).continueFit !== undefined);
      });
    },
  };
}
