/** Table shapes shared by the MySQL and SQLite drivers (the migrations create exactly these). */
export interface BarsTable {
  symbol: string;
  date: string; // ISO YYYY-MM-DD, exchange-local trading date
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  /**
   * When this version of the bar was produced (for a live message, the earlier of its event_time
   * and its stream entry's time, UTC ISO as toISOString writes it: lib/streaming/stream-quality.ts
   * versionTimeOf) or, for an import's version, the clock of its content (when its bytes
   * were first seen or fetched: the snapshot's recorded `judgedAt` or `fileClocks` entry; the
   * publication time for imports published before content clocks). A repeat of the stored values
   * leaves it as it is. Null for upsertBars'
   * versions, for imports published before migration 0023, and for live versions of messages
   * without event_time stored before 7 December 2026 (an import dates those that revised a bar by
   * their bar_revisions row: lib/store/staging.ts timeUntimedLiveVersions).
   */
  event_time: string | null;
  /** HMAC by MODEL_SIGNING_KEY over the bar (lib/store/bar-signature.ts); null when written without the key or before migration 0034. */
  signature: string | null;
  signature_key_id: string | null;
}

export interface DatasetSnapshotsTable {
  id: string;
  content_hash: string;
  source: string; // JSON: where the data came from and how it was read
  symbols: string; // JSON array, sorted
  symbol_count: number;
  first_date: string | null;
  last_date: string | null;
  rows_read: number;
  row_count: number; // rows accepted into the bar store
  rejected_count: number;
  flagged_count: number;
  quality_report: string; // JSON QualityReport
  /**
   * staging → staged → passed → published, or rejected (with status_reason). `ingested` and
   * `failed` are what imports before staged publishing recorded.
   */
  status: 'staging' | 'staged' | 'passed' | 'published' | 'rejected' | 'ingested' | 'failed';
  status_reason: string | null;
  created_at: string; // ISO timestamp of the first import of this content
  /** Random token of the import attempt that may write this snapshot's staging rows (the fence). */
  attempt_token: string | null;
  published_at: string | null;
  bars_added: number | null;
  bars_revised: number | null;
}

/** Accepted bars of a snapshot waiting for the gate; deleted once it is published or rejected. */
/** One row per staged chunk of an import: what lets a retried attempt resume where the last stopped. */
export interface StagedChunksTable {
  snapshot_id: string;
  chunk: number;
  rows: number;
  report: string; // JSON QualityReport of the chunk
  attempt_token: string;
  staged_at: string;
  bars: string; // the chunk's accepted bars, columnar JSON (lib/store/staging.ts)
}

/** The values a publish replaced: one row per bar whose OHLCV changed. */
export interface BarRevisionsTable {
  snapshot_id: string;
  symbol: string;
  date: string;
  old_open: number;
  old_high: number;
  old_low: number;
  old_close: number;
  old_volume: number;
  /** The new values; null on a retraction (the stored bar was removed: a glitch the next bar revealed). */
  new_open: number | null;
  new_high: number | null;
  new_low: number | null;
  new_close: number | null;
  new_volume: number | null;
  published_at: string;
}

export interface QuarantineTable {
  issue_key: string; // sha1 of (snapshot, source, line, rule, symbol, date): makes re-imports idempotent
  snapshot_id: string;
  rule: string;
  severity: 'reject' | 'flag';
  symbol: string | null;
  date: string | null;
  source: string;
  line: number | null;
  message: string;
  raw: string | null;
}

/**
 * When some file content (its text's sha256) was first seen, by any import or provider fetch: the
 * clock that judges its bars (future_date, session_not_closed) wherever the same bytes come back.
 */
export interface ContentClocksTable {
  content_sha256: string;
  seen_at: string; // ISO timestamp; only ever lowered
  source: string; // the file or URL it was first seen as (evidence)
}

export interface FeatureSetsTable {
  version: string;
  name: string;
  definition: string; // JSON FeatureSetDefinition with defaults filled
  columns: string; // JSON string[]
  created_at: string;
}

export interface FeatureRowsTable {
  version: string;
  symbol: string;
  date: string;
  vals: Uint8Array; // float64 little-endian, one per column
  /** HMAC-SHA256 (hex) of the row by MODEL_SIGNING_KEY (lib/features/vector-signature.ts signFeatureRow); null: written without the key. */
  signature: string | null;
  /** Which key made `signature`. */
  signature_key_id: string | null;
}

/** Per (feature-set version, input series): what its stored rows were computed from. */
export interface FeatureProgressTable {
  version: string;
  symbol: string;
  /** Bars up to this date were accounted for (null: rows stored before progress was kept). */
  through: string | null;
  /** How many bars the series had up to `through`. */
  bars: number | null;
  /** Stored rows from this date on are stale (a revision not yet recomputed); null when none. */
  stale_from: string | null;
  updated_at: string;
}

/** A published snapshot whose bar revisions a feature-set version has absorbed. */
export interface FeatureRevisionMarksTable {
  version: string;
  snapshot_id: string;
  applied_at: string;
}

export interface NewsHeadlinesTable {
  id: string; // sha1 of (published, symbol, headline[, vendor id]) of the story's first row: re-imports are idempotent
  published: string; // the latest stamp seen of the story (lib/news/same-story.ts)
  effective_date: string;
  symbol: string | null;
  headline: string;
  score: number;
  story: string | null; // null on rows stored before 0032 until migration 0033 (or the next import) keys them
  first_published: string | null;
  vendor_id: string | null;
}

export interface ModelVersionsTable {
  name: string;
  version: number;
  artifact_sha256: string;
  artifact_bytes: number;
  algorithm: string;
  params: string;
  seed: number;
  feature_set_version: string;
  label: string;
  snapshot_id: string | null;
  snapshot_hash: string | null;
  code_version: string;
  workflow_id: string | null;
  run_id: string | null;
  registration_key: string;
  metrics: string;
  lineage: string;
  created_at: string;
  /** HMAC-SHA256 (hex) of the row's registration fields by MODEL_SIGNING_KEY (lib/registry/row-signature.ts); null: registered without the key. */
  signature: string | null;
  /** Which key made `signature`: the first 8 hex digits of the key's sha256. */
  signature_key_id: string | null;
}

/** The serving records' signature columns (0031): HMAC-SHA256 (hex) by MODEL_SIGNING_KEY (lib/registry/serving-record-signature.ts) and its key id; null: written without the key (or before 0031). */
interface ServingRecordSignatureColumns {
  signature?: string | null;
  signature_key_id?: string | null;
}

export interface ModelAliasesTable extends ServingRecordSignatureColumns {
  name: string;
  alias: string;
  version: number;
  /** model_alias_history.seq of the move that set the alias (0031); null on aliases set before. */
  seq?: number | null;
}

export interface ModelAliasHistoryTable extends ServingRecordSignatureColumns {
  name: string;
  /** 1, 2, … per model name: the order of the moves. */
  seq: number;
  alias: string;
  from_version: number | null;
  to_version: number | null;
  moved_by: string;
  reason: string;
  moved_at: string;
}

export interface ServingRoutesTable extends ServingRecordSignatureColumns {
  model: string;
  generation: number;
  routes: string;
  updated_by: string;
  reason: string;
  updated_at: string;
}

export type ServingRouteHistoryTable = ServingRoutesTable;

export interface PredictionLogTable {
  id: string;
  request_id: string;
  model: string;
  version: number;
  variant: string;
  /** 1 when this prediction was the response, 0 for shadow and paired reference predictions. */
  served: number;
  symbol: string;
  routing_key: string;
  as_of: string;
  /** Probability of class 1 (up); null when the model failed. */
  probability: number | null;
  predicted_class: number | null;
  latency_us: number;
  error: string | null;
  created_at: string;
  /** The database's clock when the row was written, µs since the epoch (see lib/deployment/log-aggregates.ts); set by the database when an insert leaves it out. */
  logged_at?: number;
  /** HMAC of the row by MODEL_SIGNING_KEY (lib/serving/prediction-log-signature.ts, 0035); null: written without the key. */
  signature?: string | null;
  signature_key_id?: string | null;
}

/** An analysis stream's running totals (lib/deployment/log-aggregates.ts): what they cover. */
export interface AnalysisStreamsTable {
  /** sha256 of the stream's definition. */
  id: string;
  definition: string;
  /** Rows logged before this (µs, database clock) are in the stream's cells. */
  folded_until: number;
  /** Σ n its folds added to its cells (0027); null on streams folded before. */
  folded_n?: number | null;
  updated_at: string;
  /** HMAC by MODEL_SIGNING_KEY of the stream's totals (lib/deployment/log-aggregates.ts, 0035); null: folded without the key. */
  signature?: string | null;
  signature_key_id?: string | null;
  /** logged_at of the first row with a signed logged_at the stream folded (0037, signed with the totals); null: none yet. */
  current_form_from?: number | null;
}

export interface AnalysisCellsTable {
  stream: string;
  /** JSON array of the cell's dimensions. */
  cell: string;
  n: number;
  s1: number;
  s2: number;
}

/** One analysis of a deployment, written as it runs (lib/deployment/analysis-log.ts). */
export interface DeploymentAnalysesTable {
  deployment_id: string;
  /** The deployment's analysis count when it ran (1, 2, …), across continue-as-new runs. */
  seq: number;
  phase: string;
  /** Challenger traffic share. */
  weight: number;
  verdict: string;
  /** JSON array of strings. */
  reasons: string;
  /** JSON of the canary analysis or A/B report. */
  detail: string;
  analysed_at: string;
}

export interface DeploymentsTable {
  id: string;
  model: string;
  mode: string;
  champion_version: number | null;
  challenger_version: number;
  status: string;
  plan: string;
  outcome: string | null;
  started_by: string;
  started_at: string;
  ended_at: string | null;
  /** The model's name while the deployment runs, null once it ended (unique: one running deployment per model; 0020). */
  running_model?: string | null;
  /** serving_routes generation the deployment last wrote or started from; null on rows from before 0020. */
  routes_generation?: number | null;
  /** The artifact sha256 the challenger's / champion's registry row named when the deployment started (0025); null before, or without a champion. */
  challenger_sha256?: string | null;
  champion_sha256?: string | null;
  /** workflowInfo().firstExecutionRunId of the run that began the deployment (0036): only runs of that chain move its traffic; null before. */
  first_execution_run_id?: string | null;
}

export interface AlertsTable {
  id: string;
  rule: string;
  severity: string;
  subject: string;
  message: string;
  evidence: string;
  status: string;
  created_at: string;
  acked_by: string | null;
  acked_at: string | null;
  /** HMAC by MODEL_SIGNING_KEY over the row as raised (lib/alerts/alert-signature.ts); null without the key or before 0038. */
  signature?: string | null;
  signature_key_id?: string | null;
}

export interface AlertDeliveriesTable {
  alert_id: string;
  channel: string;
  status: string;
  attempts: number;
  last_error: string | null;
  next_attempt_at: string;
  delivered_at: string | null;
}

export interface ModelReferenceProfilesTable {
  name: string;
  version: number;
  profile: string;
  created_at: string;
  /** HMAC-SHA256 (hex) of the profile text bound to its version's row (lib/registry/row-signature.ts signProfileRecord); null: stored without the key. */
  signature: string | null;
  /** Which key made `signature`. */
  signature_key_id: string | null;
}

export interface PredictionOutcomesTable {
  prediction_id: string;
  model: string;
  version: number;
  variant: string;
  symbol: string;
  as_of: string;
  outcome: number | null;
  matured_at: string;
  /** LABEL_CODE_VERSION of the code that computed the outcome; null on rows recorded before migration 0026. */
  label_code_version: number | null;
}

export interface MonitoringReportsTable {
  id: string;
  model: string;
  version: number | null;
  report: string;
  created_at: string;
}

/** Per live bar, the stream entry that last wrote it (see migration 0019_live_bar_sources). */
export interface LiveBarSourcesTable {
  stream: string;
  symbol: string;
  date: string;
  /** The entry id, both parts zero-padded to 20 digits ("<ms>-<seq>"): text order is stream order. */
  entry: string;
}

/** A run's best model against a champion on an evaluation period (see migration 0022_promotion_challenges). */
export interface PromotionChallengesTable {
  model: string;
  /** 1, 2, … per model: the order of the challenges. */
  seq: number;
  challenge_key: string;
  /** null: there was no champion (the challenge for the empty slot). */
  champion_version: number | null;
  challenger_version: number;
  algorithm: string;
  algorithms_tested: number;
  dataset_id: string;
  period_from: string | null;
  period_to: string | null;
  metric: string;
  challenge_number: number;
  level: number;
  p_value: number | null;
  champion_p_value: number | null;
  /** 1 when the challenger was promoted. */
  promoted: number;
  reason: string;
  created_at: string;
}

export interface DatabaseSchema {
  promotion_challenges: PromotionChallengesTable;
  live_bar_sources: LiveBarSourcesTable;
  alert_deliveries: AlertDeliveriesTable;
  model_reference_profiles: ModelReferenceProfilesTable;
  prediction_outcomes: PredictionOutcomesTable;
  monitoring_reports: MonitoringReportsTable;
  serving_routes: ServingRoutesTable;
  serving_route_history: ServingRouteHistoryTable;
  prediction_log: PredictionLogTable;
  analysis_streams: AnalysisStreamsTable;
  analysis_cells: AnalysisCellsTable;
  deployments: DeploymentsTable;
  deployment_analyses: DeploymentAnalysesTable;
  alerts: AlertsTable;
  model_versions: ModelVersionsTable;
  model_aliases: ModelAliasesTable;
  model_alias_history: ModelAliasHistoryTable;
  news_headlines: NewsHeadlinesTable;
  feature_sets: FeatureSetsTable;
  feature_rows: FeatureRowsTable;
  feature_progress: FeatureProgressTable;
  feature_revision_marks: FeatureRevisionMarksTable;
  bars: BarsTable;
  staged_chunks: StagedChunksTable;
  bar_revisions: BarRevisionsTable;
  dataset_snapshots: DatasetSnapshotsTable;
  quarantine: QuarantineTable;
  content_clocks: ContentClocksTable;
}

