/**
 * The analyses of each deployment as they run. The workflow keeps only its newest analyses in its
 * state and writes the state to `deployments.outcome` when it ends; this log lets a running rollout's
 * timeline be read from the store (the dashboard, `mlp deployments show` on a store without Temporal).
 */
import { z } from 'zod';
import { BadInputError, describeValidationError } from '../errors';
import type { Database } from '../store/database';

/** Analyses kept per deployment; older ones are deleted as new ones arrive. */
export const ANALYSES_LOGGED_PER_DEPLOYMENT = 500;

/** What the workflow passes with an analysis so the activity can log it. */
export const analysisLogEntrySchema = z.object({
  deploymentId: z.string().min(1).max(128),
  /** The deployment's analysis count including this one. */
  seq: z.number().int().min(1),
  phase: z.enum(['shadow', 'canary', 'ab-test']),
  weight: z.number().min(0).max(1),
});
export type AnalysisLogEntry = z.infer<typeof analysisLogEntrySchema>;

export interface LoggedAnalysis extends AnalysisLogEntry {
  verdict: string;
  reasons: string[];
  detail: unknown;
  analysedAt: string;
}

/** Writes (or, for a retried activity, rewrites) one analysis and trims the deployment's log. */
export async function logDeploymentAnalysis(store: Database, entry: AnalysisLogEntry, result: { verdict: string; reasons: string[]; detail: unknown }, now: Date = new Date()): Promise<void> {
  const parsed = analysisLogEntrySchema.safeParse(entry);
  if (!parsed.success) throw new BadInputError(`invalid analysis log entry: ${describeValidationError(parsed.error)}`);
  const e = parsed.data;
  const row = {
    deployment_id: e.deploymentId,
    seq: e.seq,
    phase: e.phase,
    weight: e.weight,
    verdict: result.verdict,
    reasons: JSON.stringify(result.reasons),
    detail: JSON.stringify(result.detail),
    analysed_at: now.toISOString(),
  };
  await store.db.transaction().execute(async (tx) => {
    const insert = tx.insertInto('deployment_analyses').values(row);
    const update = { phase: row.phase, weight: row.weight, verdict: row.verdict, reasons: row.reasons, detail: row.detail, analysed_at: row.analysed_at };
    if (store.driver === 'mysql') await insert.onDuplicateKeyUpdate(update).execute();
    else await insert.onConflict((oc) => oc.columns(['deployment_id', 'seq']).doUpdateSet(update)).execute();
    await tx.deleteFrom('deployment_analyses').where('deployment_id', '=', e.deploymentId).where('seq', '<=', e.seq - ANALYSES_LOGGED_PER_DEPLOYMENT).execute();
  });
}

/** A deployment's newest analyses, oldest first. */
export async function recentDeploymentAnalyses(store: Database, deploymentId: string, limit = 100): Promise<LoggedAnalysis[]> {
  const rows = await store.db.selectFrom('deployment_analyses').selectAll().where('deployment_id', '=', deploymentId).orderBy('seq', 'desc').limit(limit).execute();
  return rows.reverse().map((r) => ({
    deploymentId: r.deployment_id,
    seq: Number(r.seq),
    phase: r.phase as AnalysisLogEntry['phase'],
    weight: Number(r.weight),
    verdict: r.verdict,
    reasons: JSON.parse(r.reasons) as string[],
    detail: JSON.parse(r.detail) as unknown,
    analysedAt: r.analysed_at,
  }));
}
