/**
 * A warm start continues the champion only if serving would accept it: the same verification (the
 * artifact, the registry row's recorded fields and, with MODEL_SIGNING_KEY, its signature) runs
 * before the champion seeds the next version, so a tampered champion fails the run by name.
 */
import crypto from 'node:crypto';
import { warmStartActivities } from '../../activities/warm-start';
import { localArtifactStore } from '../../lib/artifacts/artifact-store';
import { moveAlias, registerModel, type ModelVersion } from '../../lib/registry/model-registry';
import type { RowSigning } from '../../lib/registry/row-signature';
import { warmStartSchema } from '../../lib/training/warm-start';
import { algorithmByName, loadModelRuntimes } from '../../models/algorithms';
import { encodeArtifact } from '../../models/artifact';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';
import { separable } from '../helpers/datasets';
import { defineTestFeatureSet, LEAKY_METRICS, returnsFeatureSet, saveTestFeatureSet, UNTRACKED_REGISTRATION, withColumns } from '../helpers/registration';

const SIGNED: RowSigning = { signingKey: crypto.randomBytes(32).toString('hex') };
const FEATURES = returnsFeatureSet('warm-check', 3);
const { version: FS, columns: COLUMNS } = defineTestFeatureSet(FEATURES);
const LABEL = { kind: 'direction', horizon: 5 };

describe('warm start from a champion', () => {
  let t: TestDatabase;
  const artifacts = localArtifactStore(tempDir('mlp-warm-check-'));
  beforeAll(async () => {
    t = await createSqliteTestDatabase();
    await loadModelRuntimes();
    await saveTestFeatureSet(t.store, FEATURES);
  });
  afterAll(async () => {
    await t?.drop();
  });

  async function champion(name: string, metrics: Record<string, unknown> = {}, lineage: Record<string, unknown> = { trainedThrough: '2018-01-31', searchThrough: '2017-12-28' }): Promise<ModelVersion> {
    const data = separable(160, 3, 5);
    const model = await algorithmByName('gradient_boosting').fit({ features: withColumns(data.x, COLUMNS), labels: data.y, classes: 2, seed: 1 }, { nRounds: 5, validationFraction: 0 });
    const v = await registerModel(t.store, artifacts, { ...UNTRACKED_REGISTRATION, name, artifact: encodeArtifact(model.state(), { featureSetVersion: FS, label: LABEL }), algorithm: model.algorithm, params: { nRounds: 5, validationFraction: 0 }, seed: 1, featureSetVersion: FS, label: LABEL, metrics, lineage, registrationKey: `${name}/1` }, SIGNED);
    await moveAlias(t.store, { name, alias: 'champion', version: v.version, movedBy: 'test', reason: 'test' });
    return v;
  }

  const resolve = (name: string) =>
    warmStartActivities({ store: t.store, artifacts, signing: SIGNED }).resolveWarmStart({ name, algorithms: ['gradient_boosting'], config: warmStartSchema.parse({}), featureSetVersion: FS, label: LABEL, lastDay: '2018-02-28', evaluationFrom: '2018-01-02' });

  it('continues an intact, signed champion', async () => {
    const v = await champion('warm-intact');
    const [decision] = await resolve('warm-intact');
    expect(decision).toMatchObject({ algorithm: 'gradient_boosting', warm: true });
    expect(JSON.stringify(decision)).toContain(v.artifactSha256);
  });

  it('reads no further a champion no algorithm would continue: another label trains from scratch, even when its row would fail verification', async () => {
    const v = await champion('warm-other-label');
    await t.store.db.updateTable('model_versions').set({ params: JSON.stringify({ nRounds: 50, validationFraction: 0 }) }).where('name', '=', v.name).where('version', '=', v.version).execute();
    const [decision] = await warmStartActivities({ store: t.store, artifacts, signing: SIGNED }).resolveWarmStart({ name: 'warm-other-label', algorithms: ['gradient_boosting'], config: warmStartSchema.parse({}), featureSetVersion: FS, label: { kind: 'direction', horizon: 10 }, lastDay: '2018-02-28', evaluationFrom: '2018-01-02' });
    expect(decision).toMatchObject({ algorithm: 'gradient_boosting', warm: false, reason: expect.stringContaining('trained from scratch') });
  });

  it('refuses a champion alias naming a registry row deleted by hand, naming the alias and the repair', async () => {
    const v = await champion('warm-deleted');
    await t.store.db.deleteFrom('model_versions').where('name', '=', v.name).where('version', '=', v.version).execute();
    // Before: "model warm-deleted has no version 1".
    await expect(resolve('warm-deleted')).rejects.toThrow(`cannot warm-start from the champion: the champion alias names v${v.version}, whose registry row is gone; first serve a version that verifies: \`mlp models rollback warm-deleted --to-version N --reason "…"\` serves N and moves the alias to it, or run without warmStart`);
  });

  it('refuses a champion whose registry row was edited since it was signed, naming why, instead of continuing it', async () => {
    const v = await champion('warm-edited');
    await t.store.db.updateTable('model_versions').set({ params: JSON.stringify({ nRounds: 50, validationFraction: 0 }) }).where('name', '=', v.name).where('version', '=', v.version).execute();
    await expect(resolve('warm-edited')).rejects.toThrow(`cannot warm-start from the champion: ${v.name} v${v.version} artifact failed verification: the registry row's signature does not match it`);
  });

  describe('whose hyperparameters were chosen on days of this run\'s evaluation period (from 2018-01-02)', () => {
    it('trains from scratch, saying why, when its search reached into it', async () => {
      const v = await champion('warm-searched-late', {}, { trainedThrough: '2018-01-31', searchThrough: '2018-01-10' });
      const [decision] = await resolve('warm-searched-late');
      expect(decision).toEqual({ algorithm: 'gradient_boosting', warm: false, reason: `champion warm-searched-late v${v.version}'s hyperparameters were chosen on rows whose labels ran through 2018-01-10, not before this run's evaluation period (from 2018-01-02), so they would be judged on days they were picked on; the search runs in full: trained from scratch` });
    });

    it('bounds a version registered before the record by its own evaluation period, when it trained from scratch', async () => {
      // Its search's labels ended before its own period began: before 2017-12-01, so before this run's.
      const before = await champion('warm-legacy-before', { outOfSample: { period: { from: '2017-12-01', to: '2018-01-31' } } }, { trainedThrough: '2018-01-31' });
      expect((await resolve('warm-legacy-before'))[0]).toMatchObject({ warm: true, from: { version: before.version, searched: { before: '2017-12-01' } } });
      // Before 2018-01-15 only: they may have ended inside this run's period.
      await champion('warm-legacy-after', { outOfSample: { period: { from: '2018-01-15', to: '2018-01-31' } } }, { trainedThrough: '2018-01-31' });
      expect((await resolve('warm-legacy-after'))[0]).toMatchObject({ warm: false, reason: expect.stringMatching(/chosen on rows whose labels ended before 2018-01-15, not before this run's evaluation period \(from 2018-01-02\)/) });
    });

    it('treats as unknown a warm-started version registered before the record (its parameters came from an earlier search)', async () => {
      await champion('warm-legacy-warm', { outOfSample: { period: { from: '2017-12-01', to: '2018-01-31' } } }, { trainedThrough: '2018-01-31', warmStartedFrom: { model: 'warm-legacy-warm', version: 0, search: 'skip', trainedThrough: '2017-12-29' } });
      expect((await resolve('warm-legacy-warm'))[0]).toMatchObject({ warm: false, reason: expect.stringMatching(/does not record the days its hyperparameters were chosen on .*the search runs in full: trained from scratch$/) });
    });
  });

  it('does not continue a signed, intact champion whose own evaluation vetoes serving it (a suspected leak): it trains from scratch, saying why', async () => {
    const v = await champion('warm-vetoed', LEAKY_METRICS);
    // Before: { warm: true } — the vetoed model's trees went on into a version with a clean walk-forward of its own.
    const [decision] = await resolve('warm-vetoed');
    expect(decision).toEqual({ algorithm: 'gradient_boosting', warm: false, reason: `champion warm-vetoed v${v.version} must not be served (its evaluation recorded guard single_feature_scan tripped: suspected leak: ret_5 alone scores AUC 0.9900), so it is not continued: trained from scratch` });
  });
});
