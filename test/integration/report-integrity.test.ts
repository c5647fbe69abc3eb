/**
 * Run reports against edits of the registry (on SQLite): a report is always of one version (model
 * name, version and artifact sha256 in its HTML and sidecar JSON, checked wherever a stored report is
 * read: `mlp report`, the dashboard), and with MODEL_SIGNING_KEY a report is built, shown and recorded
 * only for a row whose signature holds, and reads the promotion decision and guard verdicts recorded
 * with the version only when their own signature (the report record's) holds. Every edit below is
 * consistent (sha256 and sizes matching), as a person editing the database would make it.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import Fastify from 'fastify';
import { MockActivityEnvironment } from '@temporalio/testing';
import { experimentActivities } from '../../activities/experiments';
import { registerDashboard, DASHBOARD_COOKIE } from '../../api/dashboard';
import { TokenVerifier } from '../../api/auth';
import { localArtifactStore, type ArtifactStore } from '../../lib/artifacts/artifact-store';
import { getModelVersion, recordVersionReport, registerModel, RegistryError, type ModelVersion } from '../../lib/registry/model-registry';
import { reportRecordProblem, rowSignatureProblem, type RowSigning } from '../../lib/registry/row-signature';
import { reportBindingOf } from '../../lib/reports/html';
import { escapeHtml } from '../../lib/reports/svg';
import { generateVersionReport, loadReportInputs, readRecordedReport, readReportFile, recordedReportOf, reportBindingKey, reportsForTarget, ReportRefusedError, signRecordedReport } from '../../lib/reports/version-report';
import type { ModelVersionsTable } from '../../lib/store/schema';
import type { TaskPool } from '../../lib/threads/task-pool';
import type { GuardVerdict } from '../../lib/training/guards';
import type { PromotionDecision } from '../../lib/registry/promotion';
import { algorithmByName, loadModelRuntimes } from '../../models/algorithms';
import { encodeArtifact } from '../../models/artifact';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';
import { separable } from '../helpers/datasets';
import { defineTestFeatureSet, returnsFeatureSet, saveTestFeatureSet, UNTRACKED_REGISTRATION, withColumns } from '../helpers/registration';

const KEY = 'r'.repeat(8) + crypto.randomBytes(16).toString('hex');
const SIGNED: RowSigning = { signingKey: KEY };
const OTHER_KEY = 'o'.repeat(8) + crypto.randomBytes(16).toString('hex');
const UNSIGNED: RowSigning = { signingKey: undefined };
const FEATURES = returnsFeatureSet('report-integrity', 3);
const { version: FS, columns: COLUMNS } = defineTestFeatureSet(FEATURES);
const LABEL = { kind: 'direction', horizon: 5 };
const READ_TOKEN = 'report-integrity-read-token-01';

const LEAK: GuardVerdict[] = [{ guard: 'point_in_time_audit', tripped: true, message: 'LEAK: 3 of 30 sampled rows differ from the bars up to their date' } as GuardVerdict];
const REJECTED = { promote: false, reason: 'v2 tripped the point-in-time audit' } as PromotionDecision;
const PROMOTED = { promote: true, reason: 'v1 beat the champion by 0.04' } as PromotionDecision;

describe('run reports bound to their version and, with a signing key, to signed rows and records', () => {
  let t: TestDatabase;
  let dir: string;
  let artifacts: ArtifactStore;
  const savedKey = process.env.MODEL_SIGNING_KEY;

  beforeAll(async () => {
    t = await createSqliteTestDatabase();
    dir = tempDir('mlp-report-integrity-');
    artifacts = localArtifactStore(dir);
    await loadModelRuntimes();
    await saveTestFeatureSet(t.store, FEATURES);
  });
  afterAll(async () => {
    if (savedKey === undefined) delete process.env.MODEL_SIGNING_KEY;
    else process.env.MODEL_SIGNING_KEY = savedKey;
    await t?.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** A model, and the same model predicting the opposite (another artifact). */
  const fitted = async (flip: boolean) => {
    const data = separable(160, 3, 5);
    const labels = flip ? data.y.map((y) => 1 - y) : data.y;
    const model = await algorithmByName('logistic_regression').fit({ features: withColumns(data.x, COLUMNS), labels: Int32Array.from(labels), classes: 2, seed: 1 }, {});
    return encodeArtifact(model.state(), { featureSetVersion: FS, label: LABEL });
  };

  /** v1 (a model) and v2 (the flipped one) of `name`, registered with `signing`. */
  async function twoVersions(name: string, signing: RowSigning): Promise<[ModelVersion, ModelVersion]> {
    const out: ModelVersion[] = [];
    for (const flip of [false, true]) {
      out.push(
        await registerModel(t.store, artifacts, {
          ...UNTRACKED_REGISTRATION,
          name,
          artifact: await fitted(flip),
          algorithm: 'logistic_regression',
          params: {},
          seed: 1,
          featureSetVersion: FS,
          label: LABEL,
          metrics: {},
          lineage: { experiment: { name, seed: 1 } },
          registrationKey: `${name}/${flip}/${crypto.randomUUID()}`,
        }, signing),
      );
    }
    return out as [ModelVersion, ModelVersion];
  }

  const edit = (v: ModelVersion, set: Partial<ModelVersionsTable>) => t.store.db.updateTable('model_versions').set(set).where('name', '=', v.name).where('version', '=', v.version).execute();
  const reread = (v: ModelVersion) => getModelVersion(t.store, v.name, v.version);

  it('with the key, a row edited to name another artifact gets no model loaded, a report that says it fails its signature, and nothing recorded (CLI, generateVersionReport, the pipeline)', async () => {
    const [v1, v2] = await twoVersions('swapped-row', SIGNED);
    await edit(v1, { artifact_sha256: v2.artifactSha256, artifact_bytes: v2.artifactBytes });
    const edited = await reread(v1);

    const inputs = await loadReportInputs(t.store, artifacts, v1.name, 1, {}, undefined, { signing: SIGNED });
    expect(inputs.model).toBeUndefined();
    expect(inputs.modelMissing).toContain("the registry row's signature does not match it");
    expect(inputs.integrity?.rowProblem).toContain("the registry row's signature does not match it");

    // The key as the processes have it (MODEL_SIGNING_KEY), not passed: the same refusal.
    process.env.MODEL_SIGNING_KEY = KEY;
    try {
      expect((await loadReportInputs(t.store, artifacts, v1.name, 1)).model).toBeUndefined();
      const [r] = await reportsForTarget(t.store, artifacts, { kind: 'version', name: v1.name, ref: '1' });
      expect(r).toMatchObject({ generated: true, recorded: false, problem: expect.stringContaining("the registry row's signature does not match it") });
      expect(r.html).toContain('data-integrity="refused"');
      expect(r.html).toContain('REFUSED: the registry row of swapped-row v1 fails verification');
      expect(r.html.match(/data-recorded="true"/g)).toEqual(['data-recorded="true"']); // only the lineage (what the row claims), nothing it names
      expect((await reread(v1)).lineage).toEqual(edited.lineage); // nothing recorded in the edited row
    } finally {
      delete process.env.MODEL_SIGNING_KEY;
    }

    await expect(generateVersionReport(t.store, artifacts, { name: v1.name, version: 1, record: true, signing: SIGNED })).rejects.toThrow(ReportRefusedError);
    await expect(recordVersionReport(t.store, v1.name, 1, { report: { path: 'x', sha256: 'a'.repeat(64), bytes: 1, generatedAt: 'now' } }, SIGNED)).rejects.toThrow(RegistryError);
    const pipeline = experimentActivities({ store: t.store, artifacts, trainingPool: {} as TaskPool, signing: SIGNED });
    await expect(new MockActivityEnvironment().run(pipeline.writeRunReport, { name: v1.name, version: 1, decision: PROMOTED })).rejects.toThrow('fails verification');
    expect((await reread(v1)).lineage).toEqual(edited.lineage);

    // The honest v2: verified, recorded, and found again as recorded.
    const [honest] = await reportsForTarget(t.store, artifacts, { kind: 'version', name: v2.name, ref: '2' }, { signing: SIGNED });
    expect(honest).toMatchObject({ generated: true, recorded: true });
    expect(honest.problem).toBeUndefined();
    expect(honest.html).toContain('data-integrity="verified"');
    const [again] = await reportsForTarget(t.store, artifacts, { kind: 'version', name: v2.name, ref: '2' }, { signing: SIGNED });
    expect(again).toMatchObject({ generated: false, recorded: true, sha256: honest.sha256 });
    // A process without the key (a CLI without MODEL_SIGNING_KEY) does not strip the signed record of its signature.
    const [keyless] = await reportsForTarget(t.store, artifacts, { kind: 'version', name: v2.name, ref: '2' }, { regenerate: true, signing: UNSIGNED });
    expect(keyless).toMatchObject({ generated: true, recorded: false, problem: expect.stringContaining('this process has no MODEL_SIGNING_KEY') });
    expect(reportRecordProblem(KEY, await reread(v2))).toBeUndefined();
    expect(recordedReportOf(await reread(v2))?.sha256).toBe(honest.sha256);
  });

  it('a report names its version (HTML head and sidecar JSON); another version\'s report is refused wherever it is read, with or without a key', async () => {
    for (const [name, signing] of [['bound-unsigned', UNSIGNED], ['bound-signed', SIGNED]] as const) {
      const [v1, v2] = await twoVersions(name, signing);
      const g1 = await generateVersionReport(t.store, artifacts, { name, version: 1, record: true, signing });
      await generateVersionReport(t.store, artifacts, { name, version: 2, record: true, signing, decision: REJECTED, datasetGuards: LEAK });

      // v2's lineage now names v1's report (path, sha256, size all v1's): `mlp report name@2` does not show it as v2's.
      const lineage = { ...(await reread(v2)).lineage, report: (await reread(v1)).lineage.report };
      await edit(v2, { lineage: JSON.stringify(lineage) });
      const [r] = await reportsForTarget(t.store, artifacts, { kind: 'version', name, ref: '2' }, { signing });
      expect(r.sha256).not.toBe(g1.sha256);
      expect(r.html).not.toBe(g1.html);
      expect(r.html).toContain(`${name} v2`);
      expect(reportBindingOf(r.html)).toEqual({ name, version: 2, artifactSha256: v2.artifactSha256 });
      expect(reportBindingOf(g1.html)).toEqual({ name, version: 1, artifactSha256: v1.artifactSha256 });
      expect(JSON.parse(fs.readFileSync(artifacts.urlOf(reportBindingKey(g1.sha256)), 'utf8'))).toMatchObject({ kind: 'run-report-binding', name, version: 1, artifactSha256: v1.artifactSha256, report: { sha256: g1.sha256 } });
      await expect(readReportFile(artifacts, g1.sha256, v1)).resolves.toBe(g1.html);
      await expect(readReportFile(artifacts, g1.sha256, v2)).rejects.toThrow(`is the report of ${name} v1`);
      expect(r.problem).toContain('the recorded report was not shown');
      if (signing === UNSIGNED) {
        // Without a key only the binding holds: v2's own report is built and recorded in place of v1's.
        expect(r.recorded).toBe(true);
        expect(recordedReportOf(await reread(v2))?.sha256).toBe(r.sha256);
        expect(r.html).toContain('data-integrity="unsigned"');
      } else {
        // With it the edit itself is seen (the record's signature fails): the guards are not shown as passed, nothing is recorded.
        expect(r.recorded).toBe(false);
        expect(r.problem).toContain('does not match them');
        expect(recordedReportOf(await reread(v2))?.sha256).toBe(g1.sha256);
        expect((await readRecordedReport(artifacts, await reread(v2), signing)).state).toBe('refused');
      }
      // A sidecar edited to name another version is refused too.
      const sidecar = artifacts.urlOf(reportBindingKey(g1.sha256));
      const original = fs.readFileSync(sidecar, 'utf8');
      fs.writeFileSync(sidecar, original.replace(`"version": 1`, '"version": 2'));
      await expect(readReportFile(artifacts, g1.sha256, v1)).rejects.toThrow('does not name');
      fs.writeFileSync(sidecar, original);
    }
  });

  it('with the key, rewriting the promotion decision and guard verdicts recorded with a version breaks their signature: the regenerated report does not show them, says why, and is not recorded', async () => {
    const name = 'verdicts';
    const [v1, v2] = await twoVersions(name, SIGNED);
    await generateVersionReport(t.store, artifacts, { name, version: 1, record: true, signing: SIGNED, decision: PROMOTED, datasetGuards: [] });
    const g2 = await generateVersionReport(t.store, artifacts, { name, version: 2, record: true, signing: SIGNED, decision: REJECTED, datasetGuards: LEAK });
    expect(g2.html).toContain('LEAK');
    const honest = await reread(v2);

    // The auditor's edit: v2's report is v1's, its guards passed and it "beat the champion". The row signature still holds.
    const edited = { ...honest.lineage, report: (await reread(v1)).lineage.report, promotion: { promote: true, reason: 'beat the champion' }, datasetGuards: [{ guard: 'point_in_time_audit', tripped: false, message: 'ok' }] };
    await edit(v2, { lineage: JSON.stringify(edited) });
    for (const regenerate of [false, true]) {
      const [r] = await reportsForTarget(t.store, artifacts, { kind: 'version', name, ref: '2' }, { regenerate, signing: SIGNED });
      expect(r.html).not.toContain('beat the champion');
      expect(r.html).not.toContain('>passed<');
      expect(r).toMatchObject({ generated: true, recorded: false });
      expect(r.html).toContain('data-integrity="refused"');
      expect(r.html).toContain('the verdicts recorded with this version are not shown');
    }
    expect((await reread(v2)).lineage).toEqual(edited);
    expect(reportRecordProblem(KEY, honest)).toBeUndefined();
    expect(honest.lineage.reportSignature).toEqual({ keyId: expect.any(String), mac: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(rowSignatureProblem(KEY, await reread(v2))).toBeUndefined();
    expect(reportRecordProblem(KEY, await reread(v2))).toContain('does not match them');

    // Only the decision edited (the rest as recorded): caught the same way.
    await edit(v2, { lineage: JSON.stringify({ ...honest.lineage, promotion: { promote: true, reason: 'beat the champion' } }) });
    expect((await readRecordedReport(artifacts, await reread(v2), SIGNED)).state).toBe('refused');
    // The signature removed: caught (a record without one is not vouched for).
    const unsignedRecord = { ...honest.lineage };
    delete unsignedRecord.reportSignature;
    await edit(v2, { lineage: JSON.stringify(unsignedRecord) });
    expect(reportRecordProblem(KEY, await reread(v2))).toContain('carry no signature');
    // v1's whole signed record (report, verdicts and signature) moved onto v2: the signature is v1's, not v2's.
    const v1Record = (await reread(v1)).lineage;
    await edit(v2, { lineage: JSON.stringify({ ...honest.lineage, report: v1Record.report, promotion: v1Record.promotion, datasetGuards: v1Record.datasetGuards, reportSignature: v1Record.reportSignature }) });
    expect(reportRecordProblem(KEY, await reread(v2))).toContain('does not match them');
    const refused = await readRecordedReport(artifacts, await reread(v2), SIGNED);
    expect(refused.state).toBe('refused');

    // recordVersionReport does not sign a record it would keep from an edit...
    await expect(recordVersionReport(t.store, name, 2, { report: { path: 'x', sha256: 'a'.repeat(64), bytes: 1, generatedAt: 'now' } }, SIGNED)).rejects.toThrow('it would keep promotion and datasetGuards');
    // ...but a report given all of them again (as the pipeline records it) replaces the record, signed.
    await generateVersionReport(t.store, artifacts, { name, version: 2, record: true, signing: SIGNED, decision: REJECTED, datasetGuards: LEAK });
    const restored = await readRecordedReport(artifacts, await reread(v2), SIGNED);
    expect(restored.state).toBe('ok');
    if (restored.state === 'ok') expect(restored.html).toContain('LEAK');
  });

  it('a record written without the key (before records were signed) is refused under it until `mlp report --sign-record` signs it, after checking its report is this version\'s', async () => {
    const name = 'legacy-record';
    const [v1, v2] = await twoVersions(name, SIGNED);
    const g1 = await generateVersionReport(t.store, artifacts, { name, version: 1, record: true, signing: UNSIGNED, decision: PROMOTED, datasetGuards: [] });
    const g2 = await generateVersionReport(t.store, artifacts, { name, version: 2, record: true, signing: UNSIGNED, decision: REJECTED, datasetGuards: LEAK });
    expect((await reread(v1)).lineage.reportSignature).toBeUndefined();
    const legacy = await readRecordedReport(artifacts, await reread(v1), SIGNED);
    expect(legacy).toMatchObject({ state: 'refused', reason: expect.stringContaining('carry no signature') });
    await expect(signRecordedReport(t.store, artifacts, name, 1, UNSIGNED)).rejects.toThrow('no signing key');
    // No key confirms an unsigned record (its signature may have been removed with an edit): signed only when vouched for.
    await expect(signRecordedReport(t.store, artifacts, name, 1, SIGNED)).rejects.toThrow('report record has no signature, so nothing shows it is as it was recorded');
    expect(await signRecordedReport(t.store, artifacts, name, 1, SIGNED, { acceptEdit: true })).toMatchObject({ before: { state: 'unsigned' } });
    expect(await readRecordedReport(artifacts, await reread(v1), SIGNED)).toMatchObject({ state: 'ok', html: g1.html });
    expect(await signRecordedReport(t.store, artifacts, name, 1, SIGNED)).toMatchObject({ before: { state: 'valid' } });

    // Changed after this key signed it: not signed again unless the change is accepted.
    await edit(v1, { lineage: JSON.stringify({ ...(await reread(v1)).lineage, promotion: { promote: true, reason: 'beat the champion by a mile' } }) });
    await expect(signRecordedReport(t.store, artifacts, name, 1, SIGNED)).rejects.toThrow('was changed after this key signed it');
    // Before: writing another key id beside the edited record made it look rotated, and it was signed without --accept-edit.
    const edited = (await reread(v1)).lineage;
    await edit(v1, { lineage: JSON.stringify({ ...edited, reportSignature: { ...(edited.reportSignature as object), keyId: 'deadbeef' } }) });
    await expect(signRecordedReport(t.store, artifacts, name, 1, SIGNED)).rejects.toThrow('is signed with another key (key id deadbeef), which none of MODEL_SIGNING_KEY and MODEL_SIGNING_PREVIOUS_KEYS confirms');
    await expect(signRecordedReport(t.store, artifacts, name, 1, { ...SIGNED, previousKeys: [OTHER_KEY] })).rejects.toThrow('which none of MODEL_SIGNING_KEY and MODEL_SIGNING_PREVIOUS_KEYS confirms');
    // A record naming another version's report is never signed, even accepted.
    await edit(v2, { lineage: JSON.stringify({ ...(await reread(v2)).lineage, report: (await reread(v1)).lineage.report }) });
    await expect(signRecordedReport(t.store, artifacts, name, 2, SIGNED, { acceptEdit: true })).rejects.toThrow(`is the report of ${name} v1`);
    expect((await reread(v2)).lineage.reportSignature).toBeUndefined();
    expect(g2.sha256).not.toBe(g1.sha256);
  });

  it('the dashboard shows a version\'s report only when it is that version\'s, and with the key only when its row and record are signed', async () => {
    const name = 'dashboard-bound';
    const [v1, v2] = await twoVersions(name, SIGNED);
    const g1 = await generateVersionReport(t.store, artifacts, { name, version: 1, record: true, signing: SIGNED, decision: PROMOTED, datasetGuards: [] });
    const g2 = await generateVersionReport(t.store, artifacts, { name, version: 2, record: true, signing: SIGNED, decision: REJECTED, datasetGuards: LEAK });
    const app = Fastify();
    registerDashboard(app, { store: t.store, artifacts, verifier: new TokenVerifier([{ name: 'reader', token: READ_TOKEN, scopes: ['read'] }]), signing: SIGNED });
    const unsignedApp = Fastify();
    registerDashboard(unsignedApp, { store: t.store, artifacts, verifier: new TokenVerifier([{ name: 'reader', token: READ_TOKEN, scopes: ['read'] }]), signing: UNSIGNED });
    const get = (server: typeof app, version: number) => server.inject({ method: 'GET', url: `/ui/models/${name}/versions/${version}/report`, headers: { cookie: `${DASHBOARD_COOKIE}=${READ_TOKEN}` } });
    try {
      expect((await get(app, 2)).body).toBe(g2.html);
      // v2's record replaced by v1's (report, verdicts and signature): refused under the key, and
      // without it too (v1's report is not v2's).
      const v1Lineage = (await reread(v1)).lineage;
      await edit(v2, { lineage: JSON.stringify({ ...(await reread(v2)).lineage, report: v1Lineage.report, promotion: v1Lineage.promotion, datasetGuards: v1Lineage.datasetGuards, reportSignature: v1Lineage.reportSignature }) });
      for (const server of [app, unsignedApp]) {
        const page = await get(server, 2);
        expect(page.statusCode).toBe(409);
        expect(page.body).toContain('id="report-refused"');
        expect(page.body).not.toContain(g1.sha256.slice(0, 20) + '.html'); // not v1's report
        expect(page.body).not.toBe(g1.html);
      }
      expect((await get(app, 1)).body).toBe(g1.html);
      // v1's row edited (its signature fails): its report is not shown under the key.
      await edit(v1, { metrics: JSON.stringify({ cv: { auc: 0.99 } }) });
      const page = await get(app, 1);
      expect(page.statusCode).toBe(409);
      expect(page.body).toContain('fails verification');
    } finally {
      await app.close();
      await unsignedApp.close();
    }
  });
  it('with the key, the dashboard\'s model list withholds the figures of a row whose metrics were edited (its signature fails), not shown as the version\'s', async () => {
    const name = 'dashboard-figures';
    const honest = { outOfSample: { classification: { accuracy: 0.5012, rocAuc: 0.5034 }, baseline: { name: 'always_up', accuracy: 0.5208 }, auc: { versus: 'momentum_sign', baselineAuc: 0.5101 } } };
    const v = await registerModel(t.store, artifacts, {
      ...UNTRACKED_REGISTRATION, name, artifact: await fitted(false), algorithm: 'logistic_regression', params: {}, seed: 1, featureSetVersion: FS, label: LABEL,
      metrics: honest, lineage: {}, registrationKey: `${name}/${crypto.randomUUID()}`,
    }, SIGNED);
    const app = Fastify();
    registerDashboard(app, { store: t.store, artifacts, verifier: new TokenVerifier([{ name: 'reader', token: READ_TOKEN, scopes: ['read'] }]), signing: SIGNED });
    const unsignedApp = Fastify();
    registerDashboard(unsignedApp, { store: t.store, artifacts, verifier: new TokenVerifier([{ name: 'reader', token: READ_TOKEN, scopes: ['read'] }]), signing: UNSIGNED });
    const card = async (server: typeof app) => {
      const page = await server.inject({ method: 'GET', url: '/ui/models', headers: { cookie: `${DASHBOARD_COOKIE}=${READ_TOKEN}` } });
      expect(page.statusCode).toBe(200);
      return page.body.slice(page.body.indexOf(`data-model="${name}"`));
    };
    try {
      expect(await card(app)).toContain('0.5034');
      // The metrics edited to flatter the model (AUC 0.5034 → 0.7134, accuracy 0.5012 → 0.6512), sizes and all else unchanged.
      await edit(v, { metrics: JSON.stringify({ outOfSample: { ...honest.outOfSample, classification: { accuracy: 0.6512, rocAuc: 0.7134 } } }) });
      const shown = await card(app);
      expect(shown).not.toContain('0.7134');
      expect(shown).not.toContain('0.6512');
      expect(shown).toContain(`withheld: ${escapeHtml(rowSignatureProblem(KEY, await reread(v)))}`);
      // Without the key rows are not bound (documented): the row's figures are all there is.
      expect(await card(unsignedApp)).toContain('0.7134');
    } finally {
      await app.close();
      await unsignedApp.close();
    }
  });
});
