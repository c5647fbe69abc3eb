import { symbolSchema } from '../../lib/market-data/symbols';
import fs from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import type { Client } from '@temporalio/client';
import type { AppConfig } from '../../lib/config';
import { describeValidationError } from '../../lib/errors';
import { escapeControl, escapeLines } from '../../lib/quality/excerpt';
import { annualisedText } from '../../lib/backtest/short-sample';
import { refuseUnknownKeys } from '../../lib/unknown-keys';
import type { ExperimentInput } from '../../lib/experiments/experiment';
import type { FeatureSetInput } from '../../lib/features/feature-set';
import { readFeatureSetFile } from './features';
import { isS3Url, resolveCsvSource } from '../../lib/market-data/csv-files';
import type { ImportRequestInput } from '../../lib/ingest/import-request';
import type { SupersededStoredBars, UnconfirmedStoredBars } from '../../lib/store/staging';
import { TASK_QUEUES } from '../../lib/task-queues';
import type { TrainingPipelineResult } from '../../workflows';
import type { ProgressSink } from '../progress';
import { connectClient, webUiLink } from '../temporal-client';
import { lazy } from '../lazy';
import { numberFlag } from '../number-flag';
import { verdictWord } from '../../lib/training/guards';
import { accuracyComparisonsOf, type AccuracyComparison } from '../../lib/registry/promotion';

const flagsSchema = () => {
  const { z } = lazy.zod();
  return z
  .object({
    source: z.string().optional(),
    stooq: z.string().optional(),
    stooqUrl: z.string().optional(),
    format: z.string().default('auto'),
    adjust: z.boolean().default(false),
    dateOrder: z.enum(['M/D/YYYY', 'D/M/YYYY']).optional(),
    followLinks: z.boolean().default(false),
    symbols: z.string().optional(),
    from: z.string().optional(),
    to: z.string().optional(),
    delisted: z.string().optional(),
    maxBadRowShare: numberFlag('--max-bad-row-share').optional(),
    minHistory: numberFlag('--min-history', { int: true }).optional(),
    workflowId: z.string().min(1).optional(),
    featureSet: z.string().optional(),
    experiment: z.string().optional(),
    follow: z.boolean().default(true),
  })
  .refine((f) => !(f.source !== undefined && f.stooq !== undefined), { message: 'give only one of --source <path> or --stooq <symbols>' })
  .refine((f) => f.source !== undefined || f.stooq !== undefined || f.experiment !== undefined, { message: 'give --source <path>, --stooq <symbols> or an --experiment file with an import' });
};

/** A comma-separated symbol flag under the one symbol rule ($VIX and ^GSPC included); errors name the flag. */
function symbolList(flag: string, s: string | undefined): string[] | undefined {
  if (s === undefined) return undefined;
  let symbols: string[];
  try {
    symbols = lazy.symbols().parseSymbolList(s);
  } catch (error) {
    throw new Error(`${flag}: ${(error as Error).message}`, { cause: error });
  }
  // An empty list is no scope: the import staged every row as out of scope and recorded a rejected snapshot.
  if (symbols.length === 0) throw new Error(`${flag}: no symbol given (a comma-separated list such as AAPL,MSFT)`);
  return symbols;
}

/** `--delisted HPQ=2017-11-01,XYZ=2018-02-15`: each symbol's last session, checked as the request's `delisted` is; errors name the flag. */
function delistedFlag(s: string | undefined): Record<string, string> | undefined {
  if (s === undefined) return undefined;
  const map: Record<string, string> = {};
  for (const part of s.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    const [name, date, ...rest] = part.split('=').map((p) => p.trim());
    if (date === undefined || rest.length > 0 || name === '') throw new Error(`--delisted: ${JSON.stringify(part)} is not SYMBOL=YYYY-MM-DD (the last session the symbol traded, e.g. HPQ=2017-11-01)`);
    const [symbol] = symbolList('--delisted', name) as string[];
    map[symbol] = date;
  }
  if (Object.keys(map).length === 0) throw new Error('--delisted: no symbol given (a comma-separated list such as HPQ=2017-11-01)');
  const parsed = lazy.instruments().delistingMapSchema.safeParse(map);
  if (!parsed.success) throw new Error(`--delisted: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

/** Turns CLI flags into a validated import request; errors name the flag. */
export function requestFromFlags(raw: unknown): { request?: ImportRequestInput; featureSet?: FeatureSetInput; experiment?: ExperimentInput; workflowId?: string; follow: boolean } {
  const f = flagsSchema().parse(raw);
  const experiment = f.experiment ? readExperimentFile(f.experiment) : undefined;
  // A flag the run would not read is refused, not dropped: --symbols with the experiment's own import
  // trained on every symbol and year it names, with exit code 0.
  if (experiment?.featureSet !== undefined && f.featureSet !== undefined) throw new Error(`--feature-set: ${f.experiment} defines its own "featureSet", which the run uses; drop the flag or the experiment's featureSet`);
  if (f.source === undefined && f.stooq === undefined) {
    if (!experiment?.import) throw new Error(`${f.experiment}: the experiment has no "import"; give --source <path> or --stooq <symbols>`);
    const importFlags: Array<[string, boolean]> = [
      ['--symbols', f.symbols !== undefined],
      ['--from', f.from !== undefined],
      ['--to', f.to !== undefined],
      ['--delisted', f.delisted !== undefined],
      ['--format', f.format !== 'auto'],
      ['--adjust', f.adjust],
      ['--date-order', f.dateOrder !== undefined],
      ['--follow-links', f.followLinks],
      ['--max-bad-row-share', f.maxBadRowShare !== undefined],
      ['--min-history', f.minHistory !== undefined],
      ['--stooq-url', f.stooqUrl !== undefined],
      ['--feature-set', f.featureSet !== undefined],
    ];
    const ignored = importFlags.filter(([, given]) => given).map(([flag]) => flag);
    if (ignored.length > 0) throw new Error(`${ignored.join(', ')}: the run imports what ${f.experiment}'s "import" says, so ${ignored.length === 1 ? 'this flag' : 'these flags'} would not apply; set ${ignored.length === 1 ? 'it' : 'them'} in the experiment's import (or give --source / --stooq with ${ignored.length === 1 ? 'it' : 'them'}); no run was started`);
    return { experiment, workflowId: f.workflowId, follow: f.follow };
  }
  const featureSet = f.featureSet ? readFeatureSetFile(f.featureSet) : undefined;
  const request: ImportRequestInput = {
    // The worker may run in another directory: send an absolute path (an s3:// URL as given).
    source: f.source !== undefined ? { kind: 'csv', path: resolveCsvSource(f.source), format: f.format as 'auto', adjust: f.adjust, ...(f.dateOrder ? { dateOrder: f.dateOrder } : {}), followLinks: f.followLinks } : { kind: 'stooq', symbols: symbolList('--stooq', f.stooq) ?? [], baseUrl: f.stooqUrl },
    symbols: symbolList('--symbols', f.symbols),
    from: f.from,
    to: f.to,
    delisted: delistedFlag(f.delisted),
    // A declared feature set's own look-back is the history it needs (the default set's is the policy default).
    quality: { maxBadRowShare: f.maxBadRowShare, minHistoryBars: f.minHistory ?? (featureSet ? lazy.computeFeatures().requiredBars(lazy.featureSet().defineFeatureSet(featureSet)) : undefined) },
  };
  lazy.importRequest().importRequestSchema.parse(request); // fail here, before a run starts, with the same rules the activity applies
  return { request, featureSet, experiment: experiment && lazy.experiment().experimentImporting(experiment, request), workflowId: f.workflowId, follow: f.follow };
}

/**
 * What can be checked on this machine before a run starts or a retraining schedule is saved: the
 * CSV source exists and is readable (a file, or a folder that can be listed). The worker reads the
 * same absolute path, so a typo would otherwise only fail in the first activity of every run.
 * `refused` says what did not happen (the command's own outcome).
 */
export function checkLocalSource(request: ImportRequestInput | undefined, experiment?: ExperimentInput, refused = 'no run was started'): void {
  const source = request?.source ?? experiment?.import?.source;
  // An object-store source is read by the worker with its own credentials; this machine may have none.
  if (source?.kind !== 'csv' || isS3Url(source.path)) return;
  const flag = request?.source ? '--source' : 'the experiment\'s import.source.path';
  let stat: fs.Stats;
  try {
    stat = fs.statSync(source.path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new Error(`${flag}: ${source.path} ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? (error as Error).message})`}; ${refused}`, { cause: error });
  }
  if (!stat.isFile() && !stat.isDirectory()) throw new Error(`${flag}: ${source.path} is neither a CSV file nor a folder; ${refused}`);
  try {
    fs.accessSync(source.path, stat.isDirectory() ? fs.constants.R_OK | fs.constants.X_OK : fs.constants.R_OK);
  } catch (error) {
    throw new Error(`${flag}: ${source.path} is not readable by ${process.env.USER ?? 'this user'}; ${refused}`, { cause: error });
  }
}

/** Reads and validates an experiment file (JSON) before any run starts; a relative CSV path is taken from the file's folder. */
export function readExperimentFile(file: string): ExperimentInput {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`cannot read experiment ${file}: ${(error as Error).message}`, { cause: error });
  }
  const parsed = lazy.experiment().experimentSchema.safeParse(raw);
  if (!parsed.success) throw new Error(`experiment ${file} is invalid: ${describeValidationError(parsed.error)}`);
  // Before the unknown-key check: the schema reads a too-short A/B deadline as unset (stored inputs), which that check would name as unknown.
  const shortDeadline = lazy.experiment().abDeadlineFileProblem(parsed.data, raw);
  if (shortDeadline) throw new Error(`experiment ${file} is invalid: ${shortDeadline}`);
  refuseUnknownKeys(raw, parsed.data, `experiment ${file}`); // before a run starts, as the run's first activity would
  // Stored inputs are read with repeated symbols removed; a file being written now gives each once.
  const listed = (raw as { universe?: { symbols?: unknown } }).universe?.symbols;
  const repeated = Array.isArray(listed) ? lazy.experiment().repeatedSymbols(listed.map((s) => symbolSchema.parse(s))) : undefined;
  if (repeated) throw new Error(`experiment ${file} is invalid: universe.symbols: ${repeated}`);
  const input = raw as ExperimentInput;
  const source = input.import?.source;
  if (source?.kind === 'csv' && !isS3Url(source.path) && !path.isAbsolute(source.path)) return { ...input, import: { ...input.import, source: { ...source, path: path.resolve(path.dirname(file), source.path) } } } as ExperimentInput;
  return input;
}

export function runPipelineCommand(): Command {
  return new Command('run')
    .description('start a trainingPipeline run (ingest → quality gate → features [→ training → validation → registration]), follow it and print the result')
    .option('--source <path>', 'CSV file or folder of CSV files')
    .option('--stooq <symbols>', 'download these comma-separated symbols from Stooq instead')
    .option('--stooq-url <url>', 'Stooq base URL (default https://stooq.com)')
    .addOption(new Option('--format <format>', 'CSV format').choices(['auto', 'sp500', 'yahoo', 'stooq']).default('auto'))
    .option('--adjust', 'scale OHLC by Adj Close / Close (Yahoo files)')
    .addOption(new Option('--date-order <order>', 'order of slash dates (3/4/2017) in every file; default: each file\'s rows, then the NYSE calendar, decide').choices(['M/D/YYYY', 'D/M/YYYY']))
    .option('--follow-links', 'read symbolic links in the source (refused by default: they may lead outside it)')
    .option('--symbols <list>', 'only these comma-separated symbols')
    .option('--from <date>', 'first date to keep (YYYY-MM-DD)')
    .option('--to <date>', 'last date to keep (YYYY-MM-DD)')
    .option('--delisted <list>', 'comma-separated SYMBOL=YYYY-MM-DD: the last session of delisted symbols, so a provider answer ending there is complete (kept for later imports)')
    .option('--max-bad-row-share <share>', 'fail the run above this share of rejected rows (default 0.02)')
    .option('--min-history <bars>', 'flag series shorter than this (default 252)')
    .option('--feature-set <file>', 'JSON feature-set definition (default: the shipped set; see "features show")')
    .option('--experiment <file>', 'JSON experiment: after the features, search, validate and register models (see experiments/)')
    .option('--workflow-id <id>', 'workflow id (default: pipeline-<timestamp>)')
    .option('--no-follow', 'print the run id and return at once')
    .action(async (opts: Record<string, unknown>) => {
      const config = lazy.config().loadConfig();
      const { request, featureSet, experiment, workflowId, follow } = requestFromFlags(opts);
      checkLocalSource(request, experiment);
      await startPipelineRun(config, request, { featureSet, experiment, workflowId, follow, print: (line) => console.log(line) });
    });
}

/**
 * One printed line of a run's result: the names, messages and reasons it quotes come from the worker
 * and the store, so the whole line is escaped (a newline in a reason is `\\n`, not a line of its own).
 */
function printedLine(text: string): string {
  return `${escapeControl(text)}\n`;
}

/** Where a candidate's run report is (or why it is missing), and the command that opens it. */
function reportLine(report: NonNullable<TrainingPipelineResult['candidates']>[number]['report'], ref: string): string {
  if (report === undefined) return '';
  if ('error' in report) return printedLine(`    report: not written (${report.error}); try "mlp report ${ref} --regenerate"`);
  return printedLine(`    report: ${report.path} (mlp report ${ref} --out report.html)`);
}

/** "best of N trials" (those that ended with a score), or "best trial" for a result that does not list them. */
function bestOf(trials: ReadonlyArray<{ error?: string }> | undefined): string {
  return trials ? `best of ${trials.filter((t) => t.error === undefined).length} trials` : 'best trial';
}

/** Per trained algorithm: CV score, out-of-sample metrics beside the strongest naive baseline with day-aware inference, backtest, guards, registration. */
export function describeCandidates(result: TrainingPipelineResult): string {
  // Metrics that are undefined (NaN) arrive as null after the JSON round trip.
  const f = (x: number | null | undefined, digits = 4) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(digits) : '-');
  const p = (x: number | null | undefined) => (typeof x === 'number' && Number.isFinite(x) ? (x < 0.001 ? x.toExponential(1) : x.toPrecision(2)) : '-');
  const signed = (x: number | null | undefined, digits = 4) => (typeof x === 'number' && Number.isFinite(x) ? `${x >= 0 ? '+' : ''}${x.toFixed(digits)}` : '-');
  const interval = (i: readonly (number | null)[] | undefined, digits = 4) => (i ? `[${f(i[0], digits)}, ${f(i[1], digits)}]` : '-');
  const icBaseline = (b: { name: string; mean: number } | undefined) => (b ? `; ${b.name} ${f(b.mean)}` : '; no baseline ranks stocks');
  const lines = (result.candidates ?? []).map((c) => {
    const r = c.evaluation.report;
    const bt = r.backtest.strategy;
    const auc = r.auc ? ` vs ${r.auc.versus} ${f(r.auc.baselineAuc)} (${signed(r.auc.difference.value)}, 95% ${interval(r.auc.difference.interval)}, p ${p(r.auc.difference.pValue)})` : '';
    const wd = r.auc?.withinDay;
    const withinDay = wd ? `; within-day AUC ${f(wd.value)} vs ${wd.versus} ${f(wd.baselineValue)} (${signed(wd.difference.value)}, 95% ${interval(wd.difference.interval)}, p ${p(wd.difference.pValue)})` : '';
    // The comparison promotion judges accuracy_lift on first: the period's majority class (hindsight) where its evidence is the weaker.
    const accuracy = accuracyComparisonsOf(r.baseline);
    const liftOf = (x: AccuracyComparison) =>
      `lift ${signed(x.lift)} over ${x.versus} ${f(x.accuracy)} (${x.hindsight ? "in hindsight: the evaluation period's own majority class; " : ''}95% ${interval(x.interval)}, p ${p(x.pValue)}${!x.hindsight && r.baseline.naivePValue !== undefined ? `; naive p ${p(r.baseline.naivePValue)} if rows were independent` : ''}${accuracy.other && x === accuracy.judged ? '; the comparison promotion judges' : ''})`;
    const lift = [accuracy.judged, ...(accuracy.other ? [accuracy.other] : [])].map(liftOf).join('; ');
    const tripped = (r.guards ?? []).filter((g) => g.tripped);
    return (
      printedLine(
        `  ${c.algorithm.padEnd(20)} CV AUC ${f(c.training.best.score)} (${bestOf(c.training.trials)}: selected, so optimistic) | OOS ${r.period.from}..${r.period.to}: AUC ${f(r.classification.rocAuc)}${auc}${withinDay}; acc ${f(r.classification.accuracy)}, ${lift}; IC ${f(r.informationCoefficient.mean)} (t ${f(r.informationCoefficient.tStat, 2)}${icBaseline(r.informationCoefficient.baseline)})` +
      ` | Sharpe (net) ${annualisedText(bt.sharpe, bt.periods, 2)} vs buy-and-hold ${annualisedText(r.backtest.buyAndHold.sharpe, bt.periods, 2)}${r.backtest.versusNaiveStrategy ? `, vs ${r.backtest.versusNaiveStrategy.versus} traded the same way ${annualisedText(r.backtest.versusNaiveStrategy.rivalSharpe, bt.periods, 2)} (p ${p(r.backtest.versusNaiveStrategy.difference.pValue)})` : ''}, max DD ${f(bt.maxDrawdown, 3)} | v${c.registration.version.version}${c.registration.identicalToEarlier ? ' (identical to an earlier run, not registered again)' : ''}${c.registration.decision.promote ? ' PROMOTED' : ''}${tripped.length > 0 ? ` GUARD TRIPPED: ${tripped.map((g) => g.guard).join(', ')}` : ''}`,
      ) + reportLine(c.report, `${c.registration.version.name}@${c.registration.version.version}`)
    );
  });
  const inference = result.candidates?.[0]?.evaluation.report.inference;
  const method = inference ? printedLine(`  intervals and p-values: ${inference.method}; p is one-sided (model better)`) : '';
  const guards = (result.datasetGuards?.verdicts ?? []).map((g) => printedLine(`  guard ${g.guard}: ${verdictWord(g) === 'passed' ? '' : `${verdictWord(g)}: `}${g.message}`)).join('');
  const best = (result.candidates ?? []).find((c) => c.bestOfRun) ?? result.candidates?.[result.candidates.length - 1];
  const promoted = printedLine(
    result.promoted
      ? `  ${result.experiment?.name} v${result.promoted.version} (${result.promoted.algorithm}) is now ${result.promoted.alias}: ${result.promoted.reason}`
      : `  nothing promoted: ${best ? `${best.algorithm} (the run's best) ${best.registration.decision.reason.replace(/^not promoted: /, 'was not promoted: ')}` : 'no candidate'}`,
  );
  const deployment = result.deploymentWorkflowId ? printedLine(`  deployment ${result.deploymentWorkflowId}: follow it with "mlp deployments show ${result.deploymentWorkflowId}"`) : '';
  const universe = result.dataset?.universe ? ` (${result.dataset.universe.source === 'declared' ? 'declared universe' : `universe of snapshot ${result.dataset.universe.snapshotId}`})` : '';
  return `${printedLine(`  dataset ${result.dataset?.datasetId}: ${result.dataset?.rows} rows, ${result.dataset?.symbols} symbols${universe}`)}${guards}${lines.join('')}${method}${promoted}${deployment}`;
}

/**
 * `mlp run`'s line for stored bars within the imported file's dates that it rejected or lacks: kept
 * as stored, reported so the operator sees the store holds values the newer file contradicts or
 * lacks (lib/store/staging.ts). Empty when there are none.
 */
export function unconfirmedLine(u: UnconfirmedStoredBars | undefined): string {
  const line = u ? lazy.staging().describeUnconfirmed(u) : '';
  return line ? `  ${line}\n` : '';
}

/** `mlp run`'s lines for provider answers empty by right (a range after a declared delisting): the symbols skipped, each with why. */
export function emptyAnswersLines(answers: Readonly<Record<string, string>> | undefined): string {
  return Object.entries(answers ?? {})
    .map(([symbol, why]) => `  ${escapeControl(symbol)} skipped: ${escapeControl(why)}\n`)
    .join('');
}

/**
 * `mlp run`'s line for stored bars newer than the imported content (a live correction, a file first
 * seen later): kept as stored, reported (lib/store/staging.ts). Empty when there are none.
 */
export function supersededLine(u: SupersededStoredBars | undefined): string {
  const line = u ? lazy.staging().describeSuperseded(u) : '';
  return line ? `  ${line}\n` : '';
}

/** Task queues of the pipeline that no worker is polling right now. */
async function queuesWithoutWorkers(client: Client): Promise<string[]> {
  const { temporal } = lazy.temporalProto();
  const queues = [
    { name: TASK_QUEUES.pipeline, type: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW },
    { name: TASK_QUEUES.training, type: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY },
  ];
  const idle: string[] = [];
  for (const q of queues) {
    const response = await client.workflowService.describeTaskQueue({ namespace: client.options.namespace, taskQueue: { name: q.name }, taskQueueType: q.type });
    if ((response.pollers ?? []).length === 0) idle.push(q.name);
  }
  return idle;
}

/** Starts a run, prints its Web UI link and (when following) its result; progress goes to `options.progress` (default: stderr). */
export async function startPipelineRun(
  config: AppConfig,
  request: ImportRequestInput | undefined,
  options: { featureSet?: FeatureSetInput; experiment?: ExperimentInput; workflowId?: string; follow?: boolean; print: (line: string) => void; progress?: ProgressSink },
): Promise<TrainingPipelineResult | undefined> {
  // What it prints quotes the worker's result (a skip reason, rule names, paths): escaped, line by line.
  const print = (text: string) => options.print(escapeLines(text));
  const { trainingPipeline } = lazy.workflows();
  const { followRun } = lazy.followRun();
  const client = await connectClient(config);
  try {
    const id = options.workflowId ?? `pipeline-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    const handle = await client.workflow.start(trainingPipeline, { taskQueue: TASK_QUEUES.pipeline, workflowId: id, args: [{ import: request, featureSet: options.featureSet, experiment: options.experiment }] });
    const link = webUiLink(config, id, handle.firstExecutionRunId);
    print(`started ${id}\n  Web UI: ${link}`);
    const missing = await queuesWithoutWorkers(client);
    if (missing.length > 0) print(`  warning: no worker polls ${missing.join(', ')}; the run waits until one starts (npm run worker)`);
    if (options.follow === false) return undefined;
    const result = await followRun<TrainingPipelineResult>(handle, options.progress, { address: config.temporalAddress });
    const s = result.ingest;
    if (result.skipped || !s) {
      print(`skipped: ${escapeControl(result.skipped?.reason ?? 'the run ingested nothing')}\n  Web UI: ${link}`);
      return result;
    }
    print(
      `done: snapshot ${result.snapshotId}\n  ${s.sources} sources, ${s.symbols} symbols, ${s.firstDate}..${s.lastDate}\n` +
        `  ${s.rowsRead} rows read, ${s.rowsAccepted} stored, ${s.rowsRejected} quarantined (${(s.badRowShare * 100).toFixed(3)}%), ${s.flags} flags\n` +
        `  per rule: ${JSON.stringify(s.byRule)}\n` +
        emptyAnswersLines(s.emptyAnswers) +
        unconfirmedLine(result.gate?.published?.unconfirmed ?? s.unconfirmedStoredBars) +
        // Content found still held (published before) reports what it finds superseded now.
        supersededLine(s.status === 'published' ? s.supersededStoredBars : (result.gate?.published?.superseded ?? s.supersededStoredBars)) +
        (result.features
          ? `  features ${result.features.version}: ${result.features.columns} columns, ${result.features.rowsWritten} new rows for ${result.features.symbols} symbols up to ${result.features.lastDate}, ${result.features.skippedCount} skipped\n`
          : '') +
        (result.candidates ? describeCandidates(result) : '') +
        `  Web UI: ${link}`,
    );
    return result;
  } finally {
    await client.connection.close();
  }
}
