/**
 * A registry row must describe the model its artifact holds: registration refuses a row whose
 * algorithm, feature set, label or any parameter it states disagrees with the artifact's header,
 * and verification (hence serving, deployments, route changes, rollbacks) refuses a row edited
 * since to disagree, naming the field and both values, or a parameter the algorithm does not have
 * (naming it). What every algorithm's training makes of its recipe (defaults filled in, "64,32"
 * read as [64, 32], trees and epochs counted, a warm start's own size and epochs) is not a
 * disagreement.
 */
import crypto from 'node:crypto';
import { localArtifactStore, type ArtifactStore } from '../../lib/artifacts/artifact-store';
import { registerModel, RegistryError, verifyRegisteredVersion, type ModelVersion } from '../../lib/registry/model-registry';
import { ArtifactVerificationError } from '../../lib/registry/verify-artifact';
import { algorithmByName, loadModelRuntimes } from '../../models/algorithms';
import { encodeArtifact } from '../../models/artifact';
import type { TrainedModel } from '../../models/model';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';
import { independentTimes, separable } from '../helpers/datasets';
import { defineTestFeatureSet, returnsFeatureSet, saveTestFeatureSet, UNTRACKED_REGISTRATION, withColumns } from '../helpers/registration';

/** The models' feature set and another of the same columns (real ones; synthetic values under their column names). */
const FEATURES = returnsFeatureSet('recorded', 4);
const OTHER_FEATURES = returnsFeatureSet('recorded-other', 4);
const { version: FS, columns: COLUMNS } = defineTestFeatureSet(FEATURES);
const OTHER_FS = defineTestFeatureSet(OTHER_FEATURES).version;
const LABEL = { kind: 'direction', horizon: 5 };
const separated = separable(160, 4, 3);
const data = { x: withColumns(separated.x, COLUMNS), y: separated.y };

async function fit(algorithm: string, params: Record<string, unknown>): Promise<TrainedModel> {
  return algorithmByName(algorithm).fit({ features: data.x, labels: data.y, times: independentTimes(data.x.rows), classes: 2, seed: 1 }, params);
}

describe('the registry row agrees with its artifact on every field both record (SQLite)', () => {
  let t: TestDatabase;
  let artifacts: ArtifactStore;

  beforeAll(async () => {
    t = await createSqliteTestDatabase();
    artifacts = localArtifactStore(tempDir('mlp-recorded-'));
    await loadModelRuntimes();
    await saveTestFeatureSet(t.store, FEATURES);
    await saveTestFeatureSet(t.store, OTHER_FEATURES);
  });
  afterAll(async () => {
    await t?.drop();
  });

  const register = (name: string, model: TrainedModel, row: { algorithm?: string; params: Record<string, unknown>; label?: Record<string, unknown>; featureSetVersion?: string; lineage?: Record<string, unknown> }): Promise<ModelVersion> =>
    registerModel(t.store, artifacts, {
      ...UNTRACKED_REGISTRATION,
      name,
      artifact: encodeArtifact(model.state(), { featureSetVersion: FS, label: LABEL }),
      algorithm: row.algorithm ?? model.algorithm,
      params: row.params,
      seed: 1,
      featureSetVersion: row.featureSetVersion ?? FS,
      label: row.label ?? LABEL,
      lineage: row.lineage ?? {},
      registrationKey: `${name}/${crypto.randomUUID()}`,
    });

  const verified = (v: ModelVersion) => verifyRegisteredVersion(t.store, artifacts, v.name, v.version);

  async function refusedAtVerification(v: ModelVersion, column: 'params' | 'label' | 'feature_set_version' | 'algorithm', value: string, reason: string): Promise<void> {
    await expect(verified(v)).resolves.toBeDefined();
    await t.store.db.updateTable('model_versions').set({ [column]: value }).where('name', '=', v.name).where('version', '=', v.version).execute();
    const error = await verified(v).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ArtifactVerificationError);
    expect((error as Error).message).toBe(`${v.name} v${v.version} artifact failed verification: ${reason}`);
  }

  it('registers and verifies what training makes of each algorithm\'s recipe, as the pipeline registers it', async () => {
    const recipes: Array<[string, Record<string, unknown>]> = [
      ['majority', {}],
      ['logistic_regression', {}],
      ['logistic_regression', { C: 0.5, tolerance: 0.001 }],
      ['random_forest', { nEstimators: 4, maxDepth: 3, maxFeatures: 'sqrt' }],
      ['gradient_boosting', { nRounds: 30, maxDepth: 2, learningRate: 0.3 }], // early stopping keeps fewer trees
      ['svm', { C: 0.5, gamma: 'scale' }],
      ['mlp', { hiddenLayers: '8,4', epochs: 3, learningRate: 0.01 }], // a search-space choice: "8,4" is [8, 4] in the header
      ['conv1d', { window: 2, filters: 2, units: 4, epochs: 2 }],
    ];
    for (const [algorithm, params] of recipes) {
      const model = await fit(algorithm, params);
      const v = await register(`recipe-${algorithm.replace('_', '-')}`, model, { params });
      await expect(verified(v)).resolves.toBeDefined();
    }
  });

  it('registers and verifies warm starts, whose forest size and epochs are the warm start\'s', async () => {
    const forest = algorithmByName('random_forest');
    const champion = await fit('random_forest', { nEstimators: 6, maxDepth: 3 });
    const recipe = { nEstimators: 3, maxDepth: 3 }; // the header says 6: the champion's size is kept
    const continued = await forest.continueFit!(champion, { features: data.x, labels: data.y, classes: 2, seed: 2 }, recipe, { refreshShare: 0.5, epochs: 1, extraRounds: 1 });
    expect(continued.state().params.nEstimators).toBe(6);
    await expect(verified(await register('warm-forest', continued, { params: recipe }))).resolves.toBeDefined(); // marked warm in its header
    // ...but a cold forest whose row states another size disagrees.
    await expect(register('cold-forest', champion, { params: recipe })).rejects.toThrow('artifact cannot be registered: params.nEstimators differs: the artifact has 6, the registration says 3');

    const network = algorithmByName('mlp');
    const first = await fit('mlp', { hiddenLayers: [4], epochs: 3 });
    const netRecipe = { hiddenLayers: [4], epochs: 3 };
    const more = await network.continueFit!(first, { features: data.x, labels: data.y, times: independentTimes(data.x.rows), classes: 2, seed: 2 }, netRecipe, { refreshShare: 0, epochs: 1, extraRounds: 0 });
    const lineage = { warmStartedFrom: { model: 'warm-mlp', version: 1 } };
    await expect(verified(await register('warm-mlp', more, { params: netRecipe, lineage }))).resolves.toBeDefined();
    await expect(register('warm-mlp', more, { params: netRecipe })).rejects.toThrow('params.epochs differs: the artifact has 1, the registration says 3');
  });

  it('refuses at registration a row that disagrees with the artifact, naming the field and both values, and stores nothing', async () => {
    const model = await fit('logistic_regression', { C: 0.5 });
    await expect(register('disagrees', model, { params: { C: 2 } })).rejects.toThrow(RegistryError);
    await expect(register('disagrees', model, { params: { C: 2 } })).rejects.toThrow('artifact cannot be registered: params.C differs: the artifact has 0.5, the registration says 2');
    await expect(register('disagrees', model, { params: {} })).resolves.toBeDefined(); // defaults unstated: the header's alone
    await expect(register('disagrees2', model, { params: { maxIterations: 50 } })).rejects.toThrow('params.maxIterations differs: the artifact has 200, the registration says 50');
    await expect(register('disagrees2', model, { params: { C: '0.5' } })).rejects.toThrow('params.C differs: the artifact has 0.5, the registration says "0.5"');
    await expect(register('disagrees2', model, { params: {}, algorithm: 'svm' })).rejects.toThrow('algorithm differs: the artifact has "logistic_regression", the registration says "svm"');
    await expect(register('disagrees2', model, { params: {}, featureSetVersion: OTHER_FS })).rejects.toThrow(`featureSetVersion differs: the artifact has "${FS}", the registration says "${OTHER_FS}"`);
    await expect(register('disagrees2', model, { params: {}, label: { kind: 'direction', horizon: 20 } })).rejects.toThrow('label differs: the artifact has {"horizon":5,"kind":"direction"}, the registration says {"horizon":20,"kind":"direction"}');
    await expect(register('disagrees2', model, { params: { C: 0.5, maxIteratons: 10 } })).rejects.toThrow('artifact cannot be registered: params.maxIteratons: logistic_regression has no parameter "maxIteratons"; its parameters are C, maxIterations, tolerance, so the model was not trained with it');
    // Key order is not a difference.
    await expect(register('disagrees2', model, { params: { tolerance: 1e-4, C: 0.5 }, label: { horizon: 5, kind: 'direction' } })).resolves.toBeDefined();
  });

  it('refuses a row edited to disagree with its artifact: params, label, feature set, algorithm', async () => {
    const model = await fit('logistic_regression', { C: 0.5 });
    await refusedAtVerification(await register('edited-params', model, { params: { C: 0.5 } }), 'params', JSON.stringify({ C: 0.25 }), 'params.C differs: the artifact has 0.5, the registry says 0.25');
    await refusedAtVerification(await register('edited-new-param', model, { params: { C: 0.5 } }), 'params', JSON.stringify({ C: 0.5, maxIterations: 10 }), 'params.maxIterations differs: the artifact has 200, the registry says 10');
    // A key the algorithm does not have (a misspelt maxIterations): the schema would drop it, and the row passed.
    await refusedAtVerification(await register('edited-unknown-param', model, { params: { C: 0.5 } }), 'params', JSON.stringify({ C: 0.5, maxIteratons: 10 }), 'params.maxIteratons: logistic_regression has no parameter "maxIteratons"; its parameters are C, maxIterations, tolerance, so the model was not trained with it');
    await refusedAtVerification(await register('edited-label', model, { params: {} }), 'label', JSON.stringify({ kind: 'direction', horizon: 1 }), 'label differs: the artifact has {"horizon":5,"kind":"direction"}, the registry says {"horizon":1,"kind":"direction"}');
    await refusedAtVerification(await register('edited-fs', model, { params: {} }), 'feature_set_version', OTHER_FS, `featureSetVersion differs: the artifact has "${FS}", the registry says "${OTHER_FS}"`);
    await refusedAtVerification(await register('edited-algorithm', model, { params: {} }), 'algorithm', 'svm', 'algorithm differs: the artifact has "logistic_regression", the registry says "svm"');
    // Rewritten in another key order: the same params, still served.
    const same = await register('reordered', model, { params: { C: 0.5, tolerance: 1e-4 } });
    await t.store.db.updateTable('model_versions').set({ params: '{"tolerance":0.0001,"C":0.5}' }).where('name', '=', 'reordered').execute();
    await expect(verified(same)).resolves.toBeDefined();
  });
});
