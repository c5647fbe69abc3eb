/**
 * What an alert is: its input (validated, since rules and workflows hand it over), the stored
 * record, and the default cool-down per severity.
 */
import { z } from 'zod';
import type { AlertsTable } from '../store/schema';

export const ALERT_SEVERITIES = ['info', 'warning', 'critical'] as const;
export type AlertSeverity = (typeof ALERT_SEVERITIES)[number];
export type AlertStatus = 'open' | 'acked';

/**
 * Seconds during which an alert with the same rule and subject is suppressed when the input gives
 * no cooldownSeconds. Monitoring runs hourly: a cool-down shorter than that would repeat a
 * persisting condition every run, which trains people to ignore alerts.
 */
export const DEFAULT_COOLDOWN_SECONDS: Readonly<Record<AlertSeverity, number>> = { critical: 4 * 3600, warning: 12 * 3600, info: 24 * 3600 };

export const alertInputSchema = z.object({
  /** Machine name of the rule, e.g. data_drift (see the runbook in docs/alerts-and-runbook.md). */
  rule: z.string().regex(/^[a-z][a-z0-9_]{0,63}$/, 'rule must be snake_case, at most 64 characters, e.g. data_drift'),
  severity: z.enum(ALERT_SEVERITIES),
  /** What it is about, e.g. "model demo-direction-5d"; with the rule it is the cool-down key. */
  subject: z.string().min(1).max(255),
  message: z.string().min(1).max(10_000),
  /** JSON-serialisable facts behind the alert; a string field `link` becomes the alert's link. */
  evidence: z.unknown(),
  cooldownSeconds: z.number().int().min(0).max(90 * 86_400).optional(),
  /**
   * For an alert that tells events once (the runs a pipeline_failed alert names): what it tells.
   * Alerts of the same rule, subject and key are one alert, whichever run or worker raises it first;
   * the others get its id and write nothing.
   */
  key: z.string().min(1).max(100_000).optional(),
  /**
   * An open alert of this rule and subject holds work (a deployment's next step), and acknowledging
   * it releases the hold: an acknowledged one then does not suppress a new occurrence, which must
   * hold again (within the cool-down it had no row, and nothing held).
   */
  holds: z.boolean().optional(),
});
export type AlertInput = z.input<typeof alertInputSchema>;

export interface Alert {
  id: string;
  rule: string;
  severity: AlertSeverity;
  subject: string;
  message: string;
  evidence: unknown;
  status: AlertStatus;
  createdAt: string;
  ackedBy: string | null;
  ackedAt: string | null;
}

const SEVERITY_RANK: Record<AlertSeverity, number> = { info: 0, warning: 1, critical: 2 };
export function severityRank(severity: string): number {
  return SEVERITY_RANK[severity as AlertSeverity] ?? 0;
}

export function alertFromRow(row: AlertsTable): Alert {
  let evidence: unknown;
  try {
    evidence = JSON.parse(row.evidence);
  } catch {
    evidence = row.evidence;
  }
  return {
    id: row.id,
    rule: row.rule,
    severity: (ALERT_SEVERITIES as readonly string[]).includes(row.severity) ? (row.severity as AlertSeverity) : 'warning',
    subject: row.subject,
    message: row.message,
    evidence,
    status: row.status === 'acked' ? 'acked' : 'open',
    createdAt: row.created_at,
    ackedBy: row.acked_by,
    ackedAt: row.acked_at,
  };
}

/** MySQL TEXT holds 65,535 bytes: larger evidence is kept as a truncated preview rather than refused. */
const MAX_EVIDENCE_BYTES = 60_000;

export function serialiseEvidence(evidence: unknown): string {
  const json = JSON.stringify(evidence ?? null) ?? 'null';
  if (Buffer.byteLength(json) <= MAX_EVIDENCE_BYTES) return json;
  return JSON.stringify({ truncated: true, bytes: Buffer.byteLength(json), preview: json.slice(0, 4000) });
}
