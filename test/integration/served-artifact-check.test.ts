/**
 * A served version's stored artifact damaged after the API loaded it: the processes serving it keep
 * their copy in memory, any process started afterwards refuses it. The monitoring run reads the
 * store's own copy of each served version once and raises artifact_damaged (critical, on the
 * version's model subject, its own cool-down) naming the version, its sha256 and what is wrong
 * (another sha256, size, missing); a store that cannot be read is reported as such
 * (artifact_store_unreadable, a warning on the store), not as damage; nothing is withdrawn from serving.
 * checkServedArtifacts on a real local store; monitoringWorkflow on the real Temporal dev server.
 */
import fs from 'node:fs';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { listAlerts } from '../../lib/alerts/alert-store';
import { localArtifactStore } from '../../lib/artifacts/artifact-store';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { parseMonitoringRules } from '../../lib/monitoring/monitoring-rules';
import { checkServedArtifacts, evaluateServedArtifacts } from '../../lib/monitoring/served-artifacts';
import { aliasVersion, getModelVersion, moveAlias } from '../../lib/registry/model-registry';
import { readServingRoutes, singleRoute, writeServingRoutes } from '../../lib/serving/serving-routes';
import { TASK_QUEUES } from '../../lib/task-queues';
import { monitoringWorkflow, type MonitoringSummary, type MonitoringWorkflowInput } from '../../workflows';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';
import { registerOracleModel, setUpOracleMarket, type OracleMarket } from '../helpers/oracle-models';
import { startTemporal, withWorkers } from '../helpers/temporal';
import { recordHistory, RECORDING } from '../helpers/workflow-histories';

describe('the stored artifacts of served versions are checked by monitoring (SQLite, local store)', () => {
  let env: TestWorkflowEnvironment;
  let t: TestDatabase;
  let cache: MemoryCache;
  let artifactDir: string;
  let market: OracleMarket;

  beforeAll(async () => {
    env = await startTemporal();
    t = await createSqliteTestDatabase();
    cache = new MemoryCache();
    artifactDir = tempDir('mlp-served-artifacts-');
    market = await setUpOracleMarket(t.store, cache, 12);
  });
  afterAll(async () => {
    await t?.drop();
    await env?.teardown();
  });

  const fileOf = (sha: string): string => `${artifactDir}/models/${sha.slice(0, 2)}/${sha}.mlpa`;

  /** v`n` of `name`, registered and served alone as champion; its artifact's file. */
  async function served(name: string, seed: number): Promise<{ version: number; sha: string; file: string; bytes: number }> {
    const version = await registerOracleModel(t.store, artifactDir, { name, seed, flip: false, featureSetVersion: market.featureSetVersion });
    await moveAlias(t.store, { name, alias: 'champion', version, movedBy: 'test', reason: 'first model' });
    await writeServingRoutes(t.store, cache, { model: name, mode: 'single', routes: singleRoute(version), updatedBy: 'test', reason: 'first model' });
    const row = await getModelVersion(t.store, name, version);
    return { version, sha: row.artifactSha256, file: fileOf(row.artifactSha256), bytes: row.artifactBytes };
  }

  it('names what is wrong with each stored copy: sha256, size, missing, unreadable; intact copies pass', async () => {
    const artifacts = localArtifactStore(artifactDir);
    const flipped = await served('check-flipped', 1);
    const truncated = await served('check-truncated', 2);
    const missing = await served('check-missing', 3);
    const unreadable = await served('check-unreadable', 4);
    const intact = await served('check-intact', 5);
    const target = (name: string, v: { version: number }) => ({ model: name, version: v.version, variants: ['champion'], champion: true });
    const targets = [target('check-flipped', flipped), target('check-truncated', truncated), target('check-missing', missing), target('check-unreadable', unreadable), target('check-intact', intact)];
    const before = await Promise.all(targets.map((x) => checkServedArtifacts(t.store, artifacts, [x])));
    expect(before.flat().map((c) => c.problem)).toEqual([undefined, undefined, undefined, undefined, undefined]);

    const bytes = fs.readFileSync(flipped.file);
    bytes[bytes.length - 3] ^= 0x01;
    fs.writeFileSync(flipped.file, bytes);
    fs.truncateSync(truncated.file, truncated.bytes - 10);
    fs.rmSync(missing.file);
    fs.rmSync(unreadable.file);
    fs.mkdirSync(unreadable.file); // a path the store cannot read as a file (EISDIR)

    const checks = await checkServedArtifacts(t.store, artifacts, targets);
    expect(checks.map((c) => [c.model, c.version, c.sha256, c.problem?.kind])).toEqual([
      ['check-flipped', flipped.version, flipped.sha, 'sha256'],
      ['check-truncated', truncated.version, truncated.sha, 'size'],
      ['check-missing', missing.version, missing.sha, 'missing'],
      ['check-unreadable', unreadable.version, unreadable.sha, 'unreadable'],
      ['check-intact', intact.version, intact.sha, undefined],
    ]);
    expect(checks[0].problem?.message).toMatch(new RegExp(`^the stored artifact .*${flipped.sha}\\.mlpa has sha256 [0-9a-f]{64}, the registry recorded ${flipped.sha} \\(modified or corrupted\\)$`));
    expect(checks[1].problem?.message).toMatch(new RegExp(`is ${truncated.bytes - 10} bytes, the registry recorded ${truncated.bytes}$`));
    expect(checks[2].problem?.message).toMatch(/ is missing$/);
    expect(checks[3].problem?.message).toMatch(/^the artifact store .* cannot be read: EISDIR/);

    const { findings } = evaluateServedArtifacts(checks, parseMonitoringRules({}));
    // A store that cannot be read is no verdict on the copy: a warning on the store, not artifact_damaged.
    expect(findings.map((f) => [f.alert.rule, f.alert.severity, f.alert.subject, f.alert.cooldownSeconds, f.retrain, f.blockDeployments])).toEqual([
      ...['check-flipped', 'check-truncated', 'check-missing'].map((name, i) => ['artifact_damaged', 'critical', `model ${name} v${checks[i].version}`, 4 * 3600, false, false]),
      ['artifact_store_unreadable', 'warning', `artifact store ${artifacts.description}`, 4 * 3600, false, false],
    ]);
    expect(findings[0].alert.message).toContain(`check-flipped v${flipped.version} (champion), artifact sha256 ${flipped.sha}: the stored artifact`);
    expect(findings[3].alert.message).toContain(`could not be checked; nothing is known to be wrong with them`);
    expect(findings[3].alert.message).toContain(`check-unreadable v${unreadable.version} (champion)`);
    expect(findings[3].alert.message).not.toMatch(/damaged|Re-register/);
    expect(evaluateServedArtifacts(checks, parseMonitoringRules({ artifact_damaged: { enabled: false } })).findings.map((f) => f.alert.rule)).toEqual(['artifact_store_unreadable']);
    expect(evaluateServedArtifacts(checks, parseMonitoringRules({ artifact_damaged: { enabled: false }, artifact_store_unreadable: { enabled: false } })).findings).toEqual([]);
  });

  const monitor = (id: string, input: MonitoringWorkflowInput): Promise<MonitoringSummary> => env.client.workflow.execute(monitoringWorkflow, { taskQueue: TASK_QUEUES.pipeline, workflowId: id, args: [input] });

  it('a monitoring run alerts on a served version whose stored artifact had one byte flipped, and withdraws nothing', async () => {
    const v1 = await served('mon-flipped', 7);
    const other = await served('mon-fine', 8);
    const rules = { pipeline_failed: { enabled: false }, data_stale: { enabled: false } };
    await withWorkers(env, { store: t.store, cache, artifactDir }, async () => {
      const clean = await monitor(`monitor-artifacts-clean-${Date.now()}`, { models: ['mon-flipped', 'mon-fine'], rules });
      expect(clean.artifacts).toEqual({ checked: 2, damaged: [], alerts: [] });

      const bytes = fs.readFileSync(v1.file);
      bytes[Math.floor(bytes.length / 2)] ^= 0x01;
      fs.writeFileSync(v1.file, bytes);

      const flippedId = `monitor-artifacts-flipped-${Date.now()}`;
      const summary = await monitor(flippedId, { models: ['mon-flipped', 'mon-fine'], rules });
      // Replayed by test/integration/replay-deployment.test.ts (the run with the check, after patched('served-artifact-check')).
      if (RECORDING) await recordHistory(env, 'monitoring-v2-artifact-damaged', flippedId);
      expect(summary.artifacts?.checked).toBe(2);
      expect(summary.artifacts?.damaged).toEqual([{ model: 'mon-flipped', version: v1.version, sha256: v1.sha, problem: 'sha256', message: expect.stringContaining(`the registry recorded ${v1.sha}`) }]);
      expect(summary.artifacts?.alerts).toEqual([{ rule: 'artifact_damaged', severity: 'critical', subject: `model mon-flipped v${v1.version}`, alertId: expect.any(String), suppressed: false }]);
      const [alert] = await listAlerts(t.store, { rule: 'artifact_damaged', subject: `model mon-flipped v${v1.version}` });
      expect(alert.message).toContain(`mon-flipped v${v1.version} (champion), artifact sha256 ${v1.sha}`);
      expect(alert.message).toContain('Re-register the same model');
      expect(alert.evidence).toMatchObject({ model: 'mon-flipped', version: v1.version, sha256: v1.sha, problem: 'sha256' });
      expect(await listAlerts(t.store, { rule: 'artifact_damaged', subject: `model mon-fine v${other.version}` })).toEqual([]);
      // Nothing withdrawn: the routes and the alias still name v1.
      expect((await readServingRoutes(t.store, 'mon-flipped'))?.routes).toEqual(singleRoute(v1.version));
      expect(await aliasVersion(t.store, 'mon-flipped', 'champion')).toBe(v1.version);

      // The next run within the rule's cool-down: the same alert, suppressed.
      const again = await monitor(`monitor-artifacts-again-${Date.now()}`, { models: ['mon-flipped'], rules });
      expect(again.artifacts?.alerts).toEqual([{ rule: 'artifact_damaged', severity: 'critical', subject: `model mon-flipped v${v1.version}`, alertId: alert.id, suppressed: true }]);
    });
  });
});
