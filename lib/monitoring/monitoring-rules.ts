/**
 * The rules that turn monitoring reports into alerts and actions, with their thresholds,
 * severities and cool-downs (the cool-down itself is applied by lib/alerts: an alert with the same
 * rule and subject within it is suppressed). One zod config holds every threshold, including the
 * ones the measurements use (drift q and minimum PSI, minimum samples), so a schedule or a person
 * can tune monitoring in one place.
 *
 * Actions: `retrain` for severe drift or a hit rate significantly below the promise (the workflow
 * starts one retraining run when asked to); `blockDeployments` for data-quality findings (stale
 * bars, `data_stale`; features that went missing, `data_quality`: both on the model's data subject,
 * and a deployment in progress holds its next step while such an alert is open). A drift that is
 * only missing values is a broken feed, never a reason to retrain.
 */
import { z } from 'zod';
import { refuseUnknownKeys } from '../unknown-keys';
import { ALERT_SEVERITIES, type AlertInput } from '../alerts/alert';
import { barsSubject, refusedBarsSeverity } from '../deployment/refused-bars';
import type { AlertRetelling } from '../alerts/alert-store';
import { BadInputError, describeValidationError } from '../errors';
import { driftedGroups } from './drift';
import { DEFAULT_FRESHNESS_OPTIONS } from './freshness';
import type { ModelMonitoringReport } from './model-report';
import { scheduleMissedMessage, scheduleSubject, type ScheduleMiss } from './schedule-misses';
import { alertedExecutions, executionKey, executionsOf, MAX_LISTED_EXECUTIONS, type ExecutionSummary, type PipelineHealth } from './pipeline-health';

const severity = z.enum(ALERT_SEVERITIES);
const cooldownSeconds = z.number().int().min(0).max(90 * 86_400);
const HOUR = 3600;

/** How a drift (of features or of scores) is judged; the same test for both. */
const driftTestFields = {
  enabled: z.boolean().default(true),
  /** Benjamini–Hochberg false discovery rate across the features. */
  q: z.number().gt(0).lt(1).default(0.01),
  /** Smallest PSI that counts, however significant. */
  minPsi: z.number().min(0).default(0.2),
  /** Live days and rows needed before drift is judged. */
  minDays: z.number().int().min(1).default(5),
  minRows: z.number().int().min(1).default(100),
  /** Also require a divergence beyond every training window of the same length. */
  beyondTraining: z.boolean().default(true),
  severity: severity.default('warning'),
};

export const monitoringRulesSchema = z.object({
  data_drift: z
    .object({
      ...driftTestFields,
      /**
       * Drifted features in this many groups (the reference profile's clusters of features whose
       * days move together: a selloff moves the trend, range and volatility features as one), or one
       * with a PSI this large and beyond the largest of its training windows of the length, is severe
       * (and a reason to retrain). Profiles without groups count each feature.
       */
      severeFeatures: z.number().int().min(1).default(3),
      severePsi: z.number().min(0).default(1),
      severeSeverity: severity.default('critical'),
      /** A drifted feature whose missing share rose by this much is a broken feed (data quality). */
      missingShareJump: z.number().gt(0).max(1).default(0.05),
      cooldownSeconds: cooldownSeconds.default(12 * HOUR),
    })
    .prefault({}),
  prediction_drift: z
    .object({
      ...driftTestFields,
      severePsi: z.number().min(0).default(0.5),
      severeSeverity: severity.default('critical'),
      cooldownSeconds: cooldownSeconds.default(12 * HOUR),
    })
    .prefault({}),
  performance_degraded: z
    .object({
      enabled: z.boolean().default(true),
      /** Predictions logged in the last N calendar days are scored. */
      lookbackDays: z.number().int().min(1).max(3650).default(60),
      minSamples: z.number().int().min(1).default(100),
      minDays: z.number().int().min(1).default(10),
      confidence: z.number().gt(0.5).lt(1).default(0.99),
      maxHitRateDrop: z.number().min(0).max(1).default(0.02),
      maxDrawdownFactor: z.number().min(1).default(1.5),
      /** A live drawdown beyond this always alarms when a drawdown was promised (a promised 0 times the factor is no bound). */
      minDrawdownAlarm: z.number().gt(0).max(1).default(0.05),
      maxCalibrationError: z.number().gt(0).max(1).default(0.15),
      calibrationBins: z.number().int().min(2).max(50).default(10),
      /** Severity comes from the finding: critical for the hit rate, warning for drawdown, mean return or calibration. */
      cooldownSeconds: cooldownSeconds.default(12 * HOUR),
    })
    .prefault({}),
  data_stale: z
    .object({
      enabled: z.boolean().default(true),
      /** Due sessions a symbol may miss before it is stale: 0, a session's bar is due at its close + graceMinutes (lib/monitoring/freshness.ts). */
      maxLagDays: z.number().int().min(0).default(DEFAULT_FRESHNESS_OPTIONS.maxLagDays),
      /** Minutes after a session's close (16:00, or the early close) before its bar is due; the monitoring schedule runs once after it on weekdays (client/schedules.ts). */
      graceMinutes: z.number().int().min(0).max(24 * 60).default(DEFAULT_FRESHNESS_OPTIONS.graceMinutes),
      severity: severity.default('warning'),
      criticalLagDays: z.number().int().min(1).default(3),
      cooldownSeconds: cooldownSeconds.default(4 * HOUR),
      blockDeployments: z.boolean().default(true),
    })
    .prefault({}),
  /**
   * The feature rows drift is judged on trail the model's newest bar (no later than the latest
   * session whose bar is due) by more than maxLagSessions trading days: the feature set is not being
   * materialised (the training pipeline does it; a daily retrain keeps the rows within a session of
   * the bars). Drift is then reported `stale`, judged on nothing. Disabled: drift is judged on the
   * newest rows there are, however old, and nothing is raised.
   */
  features_stale: z
    .object({
      enabled: z.boolean().default(true),
      maxLagSessions: z.number().int().min(0).default(2),
      severity: severity.default('warning'),
      cooldownSeconds: cooldownSeconds.default(12 * HOUR),
    })
    .prefault({}),
  /**
   * With MODEL_SIGNING_KEY: feature rows of the drift window that no held key vouches for (edited in
   * the database, unsigned, another key's). Drift is then `unavailable`, judged on nothing: a verdict
   * from forged rows would raise a false data_drift (and a retrain) or silence a real one.
   */
  features_unverified: z
    .object({
      enabled: z.boolean().default(true),
      severity: severity.default('critical'),
      cooldownSeconds: cooldownSeconds.default(4 * HOUR),
    })
    .prefault({}),
  /**
   * With MODEL_SIGNING_KEY: bars a served version's live outcomes, returns or book are measured on
   * that no held key vouches for (closes edited after serving, say). Live performance is then
   * `unavailable`, judged on nothing: a verdict from edited closes would silence or trigger
   * performance_degraded (and a retrain).
   */
  bars_unverified: z
    .object({
      enabled: z.boolean().default(true),
      severity: severity.default('critical'),
      cooldownSeconds: cooldownSeconds.default(4 * HOUR),
    })
    .prefault({}),
  /**
   * With MODEL_SIGNING_KEY: prediction_log rows of a served version that no held key vouches for
   * (classes or scores edited after the API logged them, say). They are left out and live
   * performance is `unavailable`: a verdict on the rest could silence or trigger performance_degraded.
   */
  predictions_unverified: z
    .object({
      enabled: z.boolean().default(true),
      severity: severity.default('critical'),
      cooldownSeconds: cooldownSeconds.default(4 * HOUR),
    })
    .prefault({}),
  /** The stored copy of a served version's artifact is missing, or of another size or sha256 (lib/monitoring/served-artifacts.ts). */
  artifact_damaged: z
    .object({
      enabled: z.boolean().default(true),
      severity: severity.default('critical'),
      cooldownSeconds: cooldownSeconds.default(4 * HOUR),
    })
    .prefault({}),
  /**
   * The artifact store could not be read when the served versions' copies were checked (unreachable,
   * timed out, denied, no such bucket): nothing is known about the copies, so no version is called
   * damaged; one alert per store (lib/monitoring/served-artifacts.ts).
   */
  artifact_store_unreadable: z
    .object({
      enabled: z.boolean().default(true),
      severity: severity.default('warning'),
      cooldownSeconds: cooldownSeconds.default(4 * HOUR),
    })
    .prefault({}),
  /**
   * A served version a training run registered has no reference profile stored (its registration
   * could not build one, or the row was deleted: lib/monitoring/model-report.ts missingProfileReason):
   * its feature and prediction drift are not judged at all. One alert per version, repeated after
   * the cool-down while it is served without one. A version registered outside a training run never
   * has one: its report says so, and nothing is raised.
   */
  reference_profile_missing: z
    .object({
      enabled: z.boolean().default(true),
      severity: severity.default('warning'),
      cooldownSeconds: cooldownSeconds.default(24 * HOUR),
    })
    .prefault({}),
  /** The serving routes serve another champion than the registry's champion alias names (lib/monitoring/served-champions.ts). */
  champion_mismatch: z
    .object({
      enabled: z.boolean().default(true),
      severity: severity.default('critical'),
      cooldownSeconds: cooldownSeconds.default(4 * HOUR),
    })
    .prefault({}),
  /**
   * With MODEL_SIGNING_KEY: a model's serving routes or aliases are not as a key holder last wrote
   * them (no valid signature, or older than / other than the newest signed history row:
   * lib/monitoring/serving-records.ts). The prediction API raises it too when it refuses routes.
   */
  serving_routes_tampered: z
    .object({
      enabled: z.boolean().default(true),
      severity: severity.default('critical'),
      cooldownSeconds: cooldownSeconds.default(4 * HOUR),
    })
    .prefault({}),
  /**
   * With MODEL_SIGNING_KEY: online vectors of a served feature set dated before the newest signed
   * offline row of their symbol (an older signed vector written back: lib/monitoring/online-vectors-behind.ts).
   */
  online_vector_behind: z
    .object({
      enabled: z.boolean().default(true),
      severity: severity.default('warning'),
      cooldownSeconds: cooldownSeconds.default(4 * HOUR),
    })
    .prefault({}),
  pipeline_failed: z
    .object({
      enabled: z.boolean().default(true),
      lookbackHours: z.number().positive().max(24 * 30).default(24),
      longRunningHours: z.number().positive().default(6),
      ignoreLongRunning: z.array(z.string()).default(['deploymentWorkflow']),
      severity: severity.default('warning'),
      cooldownSeconds: cooldownSeconds.default(12 * HOUR),
    })
    .prefault({}),
  /**
   * A schedule of the pipeline (retrain, monitoring) dropped actions because the Temporal server was
   * down longer than its catch-up window (lib/monitoring/schedule-misses.ts): each miss is told once,
   * by the first monitoring run that sees the schedule's counter grow, so there is no cool-down.
   */
  schedule_missed: z
    .object({
      enabled: z.boolean().default(true),
      severity: severity.default('warning'),
    })
    .prefault({}),
});
export type MonitoringRules = z.output<typeof monitoringRulesSchema>;
export type MonitoringRulesInput = z.input<typeof monitoringRulesSchema>;

export function parseMonitoringRules(input: unknown): MonitoringRules {
  const parsed = monitoringRulesSchema.safeParse(input ?? {});
  if (!parsed.success) throw new BadInputError(`invalid monitoring rules: ${describeValidationError(parsed.error)}`, 'INVALID_RULES');
  try {
    refuseUnknownKeys(input ?? {}, parsed.data, 'the monitoring rules', 'have');
  } catch (error) {
    throw new BadInputError((error as Error).message, 'INVALID_RULES');
  }
  return parsed.data;
}

export interface RuleFinding {
  alert: AlertInput;
  retrain: boolean;
  blockDeployments: boolean;
}

export interface RuleEvaluation {
  findings: RuleFinding[];
  actions: { retrain: boolean; blockDeployments: boolean; reasons: string[] };
}

/** Subjects, with the rule the cool-down key: one per model version for model rules, one per model for its data. */
export const modelSubject = (model: string, version: number) => `model ${model} v${version}`;
export const dataSubject = (model: string) => `data for model ${model}`;
export const profileSubject = (model: string, version: number) => `reference profile of model ${model} v${version}`;
/** A feature set's rows, as a model reads them: every version on the same set shares the alert and its cool-down. */
export const featuresSubject = (model: string, featureSet: string) => `features ${featureSet} of model ${model}`;
export const PIPELINE_SUBJECT = 'pipeline';
export const routesSubject = (model: string) => `serving routes of model ${model}`;

function evaluation(found: RuleFinding[]): RuleEvaluation {
  // An alert that holds deployments is raised again after its acknowledgement released the hold.
  const findings = found.map((f) => (f.blockDeployments ? { ...f, alert: { ...f.alert, holds: true } } : f));
  const reasons = findings.filter((f) => f.retrain || f.blockDeployments).map((f) => `${f.alert.rule}: ${f.alert.message}`);
  return { findings, actions: { retrain: findings.some((f) => f.retrain), blockDeployments: findings.some((f) => f.blockDeployments), reasons } };
}

export function evaluateModelReport(report: ModelMonitoringReport, rules: MonitoringRules): RuleEvaluation {
  const findings: RuleFinding[] = [];
  const subject = modelSubject(report.model, report.version);
  const role = report.variants.length > 0 ? ` (${report.variants.join(', ')})` : '';
  const drift = report.drift;
  if (rules.data_drift.enabled && drift.status === 'drift') {
    const drifted = drift.features.filter((f) => f.drifted);
    // A PSI counts as severe only beyond what the feature's own training windows reached: a 252-day
    // high's 10-day window sits in one or two bins, PSI 2–5 in any month of training.
    const severe = driftedGroups(drifted) >= rules.data_drift.severeFeatures || drifted.some((f) => f.psi >= rules.data_drift.severePsi && (f.trainingMaxPsi === undefined || f.psi > f.trainingMaxPsi));
    // Features that drifted by going missing are a broken feed: hold deployments, and do not retrain on it.
    const missing = drifted.filter((f) => f.liveMissingShare - f.referenceMissingShare >= rules.data_drift.missingShareJump).map((f) => f.name);
    // Any feature arriving empty is a broken feed: a retrain would learn from it, whatever else drifted beside it.
    const brokenFeed = missing.length > 0;
    findings.push({
      alert: {
        rule: 'data_drift',
        severity: severe || missing.length > 0 ? rules.data_drift.severeSeverity : rules.data_drift.severity,
        subject,
        message: `${report.model} v${report.version}${role}: ${drift.reason} over ${drift.window.from}..${drift.window.to}${missing.length > 0 ? `; values missing for ${missing.join(', ')} (a broken feed?)` : ''}`,
        evidence: { reportId: report.id, window: drift.window, q: drift.q, minPsi: drift.minPsi, drifted, missing },
        cooldownSeconds: rules.data_drift.cooldownSeconds,
      },
      retrain: severe && !brokenFeed,
      blockDeployments: false,
    });
    // The broken feed is the data's problem, whichever version reads it: a data-quality alert on the
    // model's data, the rule and subject deployments are held by (activities/deployment.ts), as stale bars are.
    if (missing.length > 0) {
      findings.push({
        alert: {
          rule: 'data_quality',
          severity: rules.data_drift.severeSeverity,
          subject: dataSubject(report.model),
          message: `features of ${report.model} arrive without values over ${drift.window.from}..${drift.window.to} (a broken feed?): ${missing.join(', ')}`,
          evidence: { reportId: report.id, version: report.version, window: drift.window, missing: drifted.filter((f) => missing.includes(f.name)) },
          cooldownSeconds: rules.data_drift.cooldownSeconds,
        },
        retrain: false,
        blockDeployments: true,
      });
    }
  }
  // Rows that stopped while the bars went on: the feature step's problem, not the model's; nothing
  // to retrain on, and deployments go on (their analyses read live predictions, not these rows).
  const lag = drift.featureLag;
  if (rules.features_stale.enabled && drift.status === 'stale' && lag) {
    findings.push({
      alert: {
        rule: 'features_stale',
        severity: rules.features_stale.severity,
        subject: featuresSubject(report.model, lag.featureSet).slice(0, 255),
        message: `${report.model} v${report.version}${role}: ${drift.reason}. Run the training pipeline (it materialises the feature set through the newest bar), or find why its runs stopped`,
        evidence: { reportId: report.id, window: drift.window, ...lag },
        cooldownSeconds: rules.features_stale.cooldownSeconds,
      },
      retrain: false,
      blockDeployments: false,
    });
  }
  // Rows no held key vouches for: drift was not judged on them; neither a reason to retrain nor to hold deployments (serving refuses such rows itself).
  const unverified = drift.unverifiedRows;
  if (rules.features_unverified.enabled && unverified) {
    findings.push({
      alert: {
        rule: 'features_unverified',
        severity: unverified.problems.every((p) => p === 'unsigned') ? 'warning' : rules.features_unverified.severity,
        subject: featuresSubject(report.model, unverified.featureSet).slice(0, 255),
        message: `${report.model} v${report.version}${role}: drift is not judged: ${drift.reason}`.slice(0, 4000),
        evidence: { reportId: report.id, ...unverified },
        cooldownSeconds: rules.features_unverified.cooldownSeconds,
      },
      retrain: false,
      blockDeployments: false,
    });
  }
  const pd = report.predictionDrift;
  if (rules.prediction_drift.enabled && pd.status === 'drift') {
    const severe = (pd.psi ?? 0) >= rules.prediction_drift.severePsi;
    findings.push({
      alert: { rule: 'prediction_drift', severity: severe ? rules.prediction_drift.severeSeverity : rules.prediction_drift.severity, subject, message: `${report.model} v${report.version}${role}: ${pd.reason}`, evidence: { reportId: report.id, ...pd }, cooldownSeconds: rules.prediction_drift.cooldownSeconds },
      retrain: severe,
      blockDeployments: false,
    });
  }
  const perf = report.performance;
  // Bars no held key vouches for: performance was not judged on them, freshness dated each symbol by its newest verified bar; no reason to retrain or hold deployments (their analyses refuse such bars themselves, and data_stale holds for a stopped feed).
  const refusedBars = perf.unverifiedBars;
  const refusedNewest = report.freshness.unverifiedBars;
  if (rules.bars_unverified.enabled && (refusedBars || refusedNewest)) {
    const told = [...(refusedBars ? [`live performance is not judged: ${refusedBars.reason}`] : []), ...(refusedNewest ? [`freshness counts no bar of them, newer than each symbol's newest verified bar: ${refusedNewest.reason}`] : [])];
    const all = [refusedBars, refusedNewest].filter((r) => r !== undefined);
    const severities = all.map((r) => refusedBarsSeverity(r, rules.bars_unverified.severity));
    findings.push({
      alert: {
        rule: 'bars_unverified',
        severity: severities.includes('critical') ? 'critical' : severities[0],
        subject: barsSubject(report.model),
        message: `${report.model} v${report.version}${role}: ${told.join('; ')}`.slice(0, 4000),
        evidence: { reportId: report.id, ...(refusedBars ? { bars: refusedBars.bars, symbols: refusedBars.symbols, problems: refusedBars.problems } : {}), ...(refusedNewest ? { newest: { bars: refusedNewest.bars, symbols: refusedNewest.symbols, problems: refusedNewest.problems } } : {}) },
        cooldownSeconds: rules.bars_unverified.cooldownSeconds,
      },
      retrain: false,
      blockDeployments: false,
    });
  }
  const refusedLog = perf.unverifiedLog;
  if (rules.predictions_unverified.enabled && refusedLog) {
    findings.push({
      alert: {
        rule: 'predictions_unverified',
        severity: refusedLog.problems.every((p) => p === 'unsigned') ? 'warning' : rules.predictions_unverified.severity,
        subject: `prediction log of model ${report.model}`.slice(0, 255),
        message: `${report.model} v${report.version}${role}: live performance is not judged: ${refusedLog.reason}`.slice(0, 4000),
        evidence: { reportId: report.id, rows: refusedLog.rows, symbols: refusedLog.symbols, problems: refusedLog.problems, examples: refusedLog.examples },
        cooldownSeconds: rules.predictions_unverified.cooldownSeconds,
      },
      retrain: false,
      blockDeployments: false,
    });
  }
  if (rules.performance_degraded.enabled && perf.status === 'degraded' && perf.severity !== null) {
    const { calibration, ...rest } = perf;
    findings.push({
      alert: {
        rule: 'performance_degraded',
        severity: perf.severity,
        subject,
        message: `${report.model} v${report.version}${role}: ${perf.reasons.join('; ')}`,
        evidence: { reportId: report.id, ...rest, expectedCalibrationError: calibration.expectedCalibrationError },
        cooldownSeconds: rules.performance_degraded.cooldownSeconds,
      },
      retrain: perf.severity === 'critical',
      blockDeployments: false,
    });
  }
  const fresh = report.freshness;
  if (rules.data_stale.enabled && fresh.status === 'stale') {
    const critical = fresh.maxLagDays === null || fresh.maxLagDays >= rules.data_stale.criticalLagDays || fresh.stalest.some((s) => s.lagDays === null);
    // The lag a symbol may have goes with the evidence: what ends the alert's hold judges the bars by it (data-alerts.ts).
    findings.push({
      alert: { rule: 'data_stale', severity: critical ? 'critical' : rules.data_stale.severity, subject: dataSubject(report.model), message: `bars for ${report.model}: ${fresh.reason}`, evidence: { reportId: report.id, ...fresh, allowedLagDays: rules.data_stale.maxLagDays, lookbackDays: rules.performance_degraded.lookbackDays }, cooldownSeconds: rules.data_stale.cooldownSeconds },
      retrain: false,
      blockDeployments: rules.data_stale.blockDeployments,
    });
  }
  // A stored profile that is not the version's (moved, replaced, edited) silenced drift and
  // freshness alerts: its own finding, on the rule for a version's stored records not being the
  // registered ones, under a subject of its own (a damaged artifact's alert must not cool it down, nor it that one).
  const profileProblem = (report.reference as Partial<ModelMonitoringReport['reference']> | undefined)?.problem; // (a stored report judged again may be older)
  if (profileProblem !== undefined && rules.artifact_damaged.enabled) {
    findings.push({
      alert: {
        rule: 'artifact_damaged',
        // A profile without a signature is most likely one stored before profiles were signed (an upgrade): a warning, where an edited one is the rule's own severity.
        // (One whose signed row says its run stored it signed is told otherwise, as an edit: profileForReport.)
        severity: /carries no signature/.test(profileProblem) ? 'warning' : rules.artifact_damaged.severity,
        subject: profileSubject(report.model, report.version),
        message: `${report.model} v${report.version}${role}: ${profileProblem}; drift is not judged from it until the version's own profile is stored again: restore its row in model_reference_profiles from a backup, or retrain (a new version stores its profile)${/carries no signature/.test(profileProblem) ? `; a profile stored before profiles were signed: check it, then \`mlp models sign ${report.model} ${report.version} --accept-profile\`` : ''}`,
        evidence: { reportId: report.id, model: report.model, version: report.version, record: 'model_reference_profiles', problem: profileProblem },
        cooldownSeconds: rules.artifact_damaged.cooldownSeconds,
      },
      retrain: false,
      blockDeployments: false,
    });
  }
  // No profile where registration stores one: drift of a served version judged by nothing, which no other alert says.
  const missingProfile = (report.reference as Partial<ModelMonitoringReport['reference']> | undefined)?.missing; // (a stored report judged again may be older)
  if (missingProfile !== undefined && rules.reference_profile_missing.enabled) {
    findings.push({
      alert: {
        rule: 'reference_profile_missing',
        severity: rules.reference_profile_missing.severity,
        subject: profileSubject(report.model, report.version),
        message: `${report.model} v${report.version}${role}: ${missingProfile}; its feature and prediction drift are not judged while it serves. Retrain (a new version stores its profile at registration), or roll back to a version that has one`,
        evidence: { reportId: report.id, model: report.model, version: report.version, record: 'model_reference_profiles', reason: missingProfile },
        cooldownSeconds: rules.reference_profile_missing.cooldownSeconds,
      },
      retrain: false,
      blockDeployments: false,
    });
  }
  return evaluation(findings);
}

/**
 * One pipeline_failed alert for the runs no earlier alert named (`alerted`: alertedExecutions of the
 * pipeline_failed alerts of the look-back), whatever the cool-down: every failing run shares the
 * subject `pipeline`, and the cool-down of a retrain that failed at 16:30 had hidden a monitoring run
 * that failed at 17:50 until the next morning, and then told the retrain's failure a second time. A
 * run failed or timed out is one event, told once (with nothing new, the finding is kept for the
 * summary and suppressed by the alert that named it); a run still stuck is a condition, repeated
 * after the cool-down.
 */
export function evaluatePipelineHealth(health: PipelineHealth, rules: MonitoringRules, alerted: ReadonlySet<string> = new Set()): RuleEvaluation {
  // Missed schedule actions are schedule_missed's (evaluateScheduleMisses): only runs make this alert.
  if (!rules.pipeline_failed.enabled || health.status !== 'failing' || executionsOf(health).length === 0) return evaluation([]);
  const fresh = executionsOf(health).filter((e) => !alerted.has(executionKey(e)));
  // Nothing new: the alert that named these runs is within the look-back, and suppresses this one
  // for as long as they are listed (a stuck run again after the rule's cool-down).
  const cooldownSeconds = fresh.length > 0 ? 0 : health.longRunning.length > 0 ? rules.pipeline_failed.cooldownSeconds : Math.max(rules.pipeline_failed.cooldownSeconds, Math.ceil(rules.pipeline_failed.lookbackHours * 3600));
  return evaluation([{ alert: pipelineFailedAlert(health, fresh, rules.pipeline_failed.severity, cooldownSeconds), retrain: false, blockDeployments: false }]);
}

/**
 * One schedule_missed alert per schedule whose missed-action counter grew since its last alert
 * (scheduleMissesOf): no cool-down, since each count is told once; the key (the schedule's creation
 * and its count) makes two overlapping monitoring runs raise one alert between them. The evidence's
 * `missedCatchupWindow` is the count the next run compares with.
 */
export function evaluateScheduleMisses(misses: readonly ScheduleMiss[], rules: MonitoringRules, since: string, now: Date): RuleEvaluation {
  if (!rules.schedule_missed.enabled) return evaluation([]);
  return evaluation(
    misses
      .filter((m) => m.newlyMissed > 0)
      .map((m) => ({
        alert: {
          rule: 'schedule_missed',
          severity: rules.schedule_missed.severity,
          subject: scheduleSubject(m.scheduleId),
          message: scheduleMissedMessage(m, since, now),
          evidence: { scheduleId: m.scheduleId, kind: m.kind, createdAt: m.createdAt, missedCatchupWindow: m.missedCatchupWindow, newlyMissed: m.newlyMissed, alertedCount: m.alertedCount, ...(m.alerted ? { earlierAlert: m.alerted.id } : {}), catchupWindowMs: m.catchupWindowMs, paused: m.paused, lastActionAt: m.lastActionAt, unstarted: m.unstarted },
          cooldownSeconds: 0,
          key: `${m.createdAt} missed ${m.missedCatchupWindow}`,
        },
        retrain: false,
        blockDeployments: false,
      })),
  );
}

function pipelineFailedAlert(health: PipelineHealth, fresh: ReadonlyArray<ExecutionSummary | string>, severity: AlertInput['severity'], cooldownSeconds: number): AlertInput {
  const keyOf = (e: ExecutionSummary | string) => (typeof e === 'string' ? e : executionKey(e));
  const named = (e: ExecutionSummary | string) => (typeof e === 'string' ? e : `${e.type} ${e.workflowId}`);
  const news = fresh.length > 0 ? `not alerted before: ${fresh.slice(0, 3).map(named).join(', ')}${fresh.length > 3 ? `, … (${fresh.length})` : ''}; ` : '';
  const listed = (list: ExecutionSummary[]) => list.slice(0, MAX_LISTED_EXECUTIONS);
  return {
    rule: 'pipeline_failed',
    severity,
    subject: PIPELINE_SUBJECT,
    message: `${news}${health.reason}`,
    // At most MAX_LISTED_EXECUTIONS runs of each kind as evidence; every run it tells in newRuns.
    evidence: { ...health, failed: listed(health.failed), timedOut: listed(health.timedOut), terminated: listed(health.terminated ?? []), longRunning: listed(health.longRunning), newRuns: fresh.map(keyOf) },
    cooldownSeconds,
    // The runs it tells: two monitoring runs at once (the schedule's and one by hand) that both
    // found them untold raise one alert between them, not one each (the cool-down is 0 here).
    ...(fresh.length > 0 ? { key: `runs ${fresh.map(keyOf).sort().join(' ')}` } : {}),
  };
}

/**
 * For a pipeline_failed alert that tells new runs: its retelling when it is stored (lib/alerts
 * AlertRetelling). A monitoring run that looked while another, overlapping, had not yet raised its
 * alert tells only the runs that one did not (its message and `newRuns` say so), or nothing when it
 * told them all. Undefined for any other alert.
 */
export function pipelineRetelling(alert: AlertInput): AlertRetelling | undefined {
  if (alert.rule !== 'pipeline_failed' || alert.key === undefined) return undefined;
  const evidence = alert.evidence as (PipelineHealth & { newRuns?: unknown }) | null;
  if (typeof evidence !== 'object' || evidence === null || typeof evidence.since !== 'string' || !Array.isArray(evidence.newRuns)) return undefined;
  const { newRuns, ...health } = evidence;
  const asked = new Set(newRuns.filter((r): r is string => typeof r === 'string'));
  return {
    since: health.since,
    revise(earlier) {
      const told = alertedExecutions(earlier.map((a) => a.evidence));
      const untold = [...asked].filter((run) => !told.has(run));
      if (untold.length === asked.size) return { alert };
      if (untold.length === 0) {
        const teller = earlier.find((a) => [...asked].some((run) => alertedExecutions([a.evidence]).has(run)));
        return { toldBy: teller?.id ?? earlier[0].id };
      }
      // Runs beyond the evidence's lists are named by their key.
      const listed = new Map(executionsOf(health).map((e) => [executionKey(e), e]));
      const fresh = untold.map((run) => listed.get(run) ?? run);
      return { alert: pipelineFailedAlert(health, fresh, alert.severity, alert.cooldownSeconds ?? 0) };
    },
  };
}
