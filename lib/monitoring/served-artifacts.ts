/**
 * The stored copies of the artifacts the serving routes serve. A running prediction API keeps
 * serving the model it loaded, from memory, with /readyz OK, when the stored object of that version
 * is later damaged or deleted; every API process started afterwards refuses it (ARTIFACT_INVALID)
 * and answers 503 model_loading. Monitoring reads each served version's object once per run, from
 * the object store itself (not this machine's cache, as verification reads it), and says what is
 * wrong: missing, another size, another sha256, or a store that cannot be read. Nothing is withdrawn
 * from serving: the copy in memory is still the registered model; the runbook repairs the stored one
 * (docs/alerts-and-runbook.md, artifact_damaged). A store that cannot be read (unreachable, timed
 * out, denied, no such bucket) says nothing about the copies: it is reported as such
 * (artifact_store_unreadable), never as a damaged artifact.
 */
import { sha256 } from '../../models/artifact';
import type { ArtifactStore } from '../artifacts/artifact-store';
import { artifactKey } from '../registry/artifact-store';
import { getModelVersion, RegistryError } from '../registry/model-registry';
import type { Database } from '../store/database';
import type { MonitoringTarget } from './model-report';
import { modelSubject, type MonitoringRules, type RuleEvaluation, type RuleFinding } from './monitoring-rules';

export type StoredArtifactProblemKind = 'missing' | 'size' | 'sha256' | 'unreadable' | 'no-row';

export interface StoredArtifactCheck {
  model: string;
  version: number;
  variants: string[];
  /** The registry's sha256 and size (null: no registry row). */
  sha256: string | null;
  bytes: number | null;
  /** Where the object is filed. */
  url: string | null;
  /** The artifact store read (its description: directory or s3://bucket/prefix at endpoint). */
  store: string | null;
  /** undefined: the stored copy is the registered one. */
  problem?: { kind: StoredArtifactProblemKind; message: string };
}

/** One read of each served version's stored object (the store's own copy), compared with its registry row. */
export async function checkServedArtifacts(store: Database, artifacts: ArtifactStore, targets: readonly MonitoringTarget[]): Promise<StoredArtifactCheck[]> {
  const checks: StoredArtifactCheck[] = [];
  for (const target of targets) {
    const base = { model: target.model, version: target.version, variants: target.variants };
    let row;
    try {
      row = await getModelVersion(store, target.model, target.version);
    } catch (error) {
      if (!(error instanceof RegistryError)) throw error;
      checks.push({ ...base, sha256: null, bytes: null, url: null, store: null, problem: { kind: 'no-row', message: `the serving routes serve ${target.model} v${target.version}, which has no registry row` } });
      continue;
    }
    const key = artifactKey(row.artifactSha256);
    const check: StoredArtifactCheck = { ...base, sha256: row.artifactSha256, bytes: row.artifactBytes, url: artifacts.urlOf(key), store: artifacts.description };
    let stored: Buffer | undefined;
    try {
      stored = await artifacts.get(key, undefined, { fromStore: true });
    } catch (error) {
      check.problem = { kind: 'unreadable', message: `the artifact store ${artifacts.description} cannot be read: ${(error as Error).message}` };
      checks.push(check);
      continue;
    }
    if (stored === undefined) {
      check.problem = { kind: 'missing', message: `the stored artifact ${check.url} is missing` };
    } else if (stored.byteLength !== row.artifactBytes) {
      check.problem = { kind: 'size', message: `the stored artifact ${check.url} is ${stored.byteLength} bytes, the registry recorded ${row.artifactBytes}` };
    } else {
      const actual = sha256(stored);
      if (actual !== row.artifactSha256) check.problem = { kind: 'sha256', message: `the stored artifact ${check.url} has sha256 ${actual}, the registry recorded ${row.artifactSha256} (modified or corrupted)` };
    }
    checks.push(check);
  }
  return checks;
}

/**
 * An artifact_damaged alert (on the version's model subject, the rule's own cool-down and severity)
 * per served version whose stored copy is not the registered one, and one artifact_store_unreadable
 * alert per store that could not be read, naming the versions left unchecked. Nothing else: no
 * retrain and no hold on deployments (a deployment verifies its versions itself), nothing withdrawn.
 */
export function evaluateServedArtifacts(checks: readonly StoredArtifactCheck[], rules: MonitoringRules): RuleEvaluation {
  const options = rules.artifact_damaged;
  const findings: RuleFinding[] = [];
  const roleOf = (c: StoredArtifactCheck): string => (c.variants.length > 0 ? ` (${c.variants.join(', ')})` : '');
  if (options.enabled) {
    for (const c of checks) {
      if (!c.problem || c.problem.kind === 'unreadable') continue;
      findings.push({
        alert: {
          rule: 'artifact_damaged',
          severity: options.severity,
          subject: modelSubject(c.model, c.version),
          message:
            `${c.model} v${c.version}${roleOf(c)}, artifact sha256 ${c.sha256 ?? '(none)'}: ${c.problem.message}. ` +
            'Processes serving it now keep their loaded copy; any process started now refuses it (503 model_loading). ' +
            `Re-register the same model to repair the stored copy, or roll back (mlp models rollback ${c.model} --to-version N --reason "…")`,
          evidence: { model: c.model, version: c.version, variants: c.variants, sha256: c.sha256, bytes: c.bytes, url: c.url, problem: c.problem.kind, detail: c.problem.message },
          cooldownSeconds: options.cooldownSeconds,
        },
        retrain: false,
        blockDeployments: false,
      });
    }
  }
  const unreadableRule = rules.artifact_store_unreadable;
  if (unreadableRule.enabled) {
    const byStore = new Map<string, StoredArtifactCheck[]>();
    for (const c of checks) if (c.problem?.kind === 'unreadable') byStore.set(c.store ?? '', [...(byStore.get(c.store ?? '') ?? []), c]);
    for (const [store, unchecked] of byStore) {
      const versions = unchecked.map((c) => `${c.model} v${c.version}${roleOf(c)}`);
      findings.push({
        alert: {
          rule: 'artifact_store_unreadable',
          severity: unreadableRule.severity,
          subject: `artifact store ${store}`,
          message:
            `${unchecked[0].problem?.message ?? `the artifact store ${store} cannot be read`}. ` +
            `The stored copies of ${versions.join(', ')} could not be checked; nothing is known to be wrong with them. ` +
            'Processes serving them keep their loaded copy; a process starting now cannot load them until the store answers, and deployments retry their verification meanwhile. ' +
            'Fix the store\'s reachability or access (ARTIFACT_URL, S3_ENDPOINT, the bucket, the credentials, the network); the next monitoring run checks the copies again',
          evidence: { store, versions: unchecked.map((c) => ({ model: c.model, version: c.version, variants: c.variants, sha256: c.sha256, url: c.url })), detail: unchecked.map((c) => c.problem?.message ?? '') },
          cooldownSeconds: unreadableRule.cooldownSeconds,
        },
        retrain: false,
        blockDeployments: false,
      });
    }
  }
  const reasons: string[] = [];
  return { findings, actions: { retrain: false, blockDeployments: false, reasons } };
}
