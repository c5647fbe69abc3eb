import type { Kysely, Transaction } from 'kysely';
import { BadInputError } from '../errors';
import type { Bar } from '../market-data/bar';
import { instrumentKind, instrumentMapSchema, knownInstrumentKind, type InstrumentMap } from '../market-data/instruments';
import { DUPLICATE_MAX_LAG, duplicateSeriesIssues, seriesOfBars, type DuplicateCheckSeries } from '../quality/duplicate-series';
import { applyStoredBarFindings, evaluateQualityGate, type GateVerdict, type QualityReport, type SymbolStoredFindings } from '../quality/report';
import { issue, SERIES_LEVEL_RULES, type QualityIssue } from '../quality/rules-catalog';
import { basisAtEdges, BASIS_EDGE_SESSIONS, mismatchedWindow, priceBasisIssue, retractionFinding, seamSpliceIssue, seriesMismatchIssue, shiftedRepeatIssue, volumeBasisFactor, volumeBasisIssue, volumeUnitStep, sharedSessions, STORED_CONTEXT_DAYS, STORED_NEIGHBOUR_DAYS, storedBarIssues, unitChangeIssue, type RetractedBar } from '../quality/stored-rules';
import { ONE_BAR_GLITCH_MAX_ROWS } from '../quality/rules';
import type { Database } from '../store/database';
import { quarantineRow } from '../store/quarantine';
import type { DatabaseSchema } from '../store/schema';
import { describeStoredVersion, storedBarsDigest } from '../store/bars';
import { declaredInstruments, getSnapshot, type SnapshotStatus } from '../store/snapshots';
import { publishSnapshot, publishSnapshotIn, readStagedChunk, rejectSnapshotIn, stagedLineKey, withPublishLock, type PublishResult } from '../store/staging';

export interface Judgement {
  verdict: GateVerdict;
  /** `published` or `rejected`. */
  status: SnapshotStatus;
  /** What the publish added and revised (absent when rejected). */
  published?: PublishResult;
  durationMs: number;
}

/**
 * The quality gate over a staged snapshot: the rules that need more than a file's rows (on the
 * stored bars, and across series) run first (checkStoredBars), then a passed snapshot is published (atomically, once), a failed one is
 * rejected with its reasons and its staging rows deleted. Safe to call again: a judged snapshot
 * keeps its verdict.
 */
export async function judgeSnapshot(store: Database, snapshotId: string): Promise<Judgement> {
  const started = Date.now();
  const snapshot = await getSnapshot(store, snapshotId);
  if (!snapshot) throw new BadInputError(`Snapshot ${snapshotId} does not exist; run the ingest step first`, 'SNAPSHOT_NOT_FOUND');
  if (snapshot.status === 'staging') throw new BadInputError(`Snapshot ${snapshotId} is still being staged; its import has not finished`, 'SNAPSHOT_NOT_STAGED');
  if (snapshot.status === 'rejected' || snapshot.status === 'failed') {
    return { verdict: { passed: false, reasons: [snapshot.statusReason ?? 'rejected'] }, status: snapshot.status, durationMs: Date.now() - started };
  }
  if (snapshot.status === 'published' || snapshot.status === 'passed') {
    // Published already (a retry: changes nothing), or passed by a gate before judging and
    // publishing were one transaction, whose publish did not finish.
    return { verdict: { passed: true, reasons: [] }, status: 'published', published: await publishSnapshot(store, snapshotId), durationMs: Date.now() - started };
  }
  // Judged against the store as it is and published in one transaction, after the store's other
  // publishes: a publish landing between the judging and the writing (a file of volumes for the
  // bars this one has at 0, bars on another basis) would be overwritten by rows judged against the
  // store without them, and a publish that failed after the verdict was recorded was retried
  // without judging again. Now a failure rolls the whole step back and a retry judges afresh.
  // `ingested` is a snapshot recorded before staging (its bars are in the store), judged as any other.
  const declared = await declaredInstruments(store);
  const judged = await withPublishLock(store, (db) =>
    db.transaction().execute(async (tx): Promise<{ verdict: GateVerdict; published?: PublishResult }> => {
      const current = await tx.selectFrom('dataset_snapshots').select(['status', 'status_reason', 'quality_report']).where('id', '=', snapshotId).executeTakeFirstOrThrow();
      if (current.status === 'published') return { verdict: { passed: true, reasons: [] }, published: await publishSnapshotIn(store, tx, snapshotId) };
      if (current.status === 'rejected') return { verdict: { passed: false, reasons: [current.status_reason ?? 'rejected'] } };
      const report = current.status === 'staged' ? await checkStoredBarsIn(store, tx, snapshotId, declared) : (JSON.parse(current.quality_report) as QualityReport);
      const verdict = evaluateQualityGate(report);
      if (!verdict.passed) {
        await rejectSnapshotIn(store, tx, snapshotId, verdict.reasons.join('; '));
        return { verdict };
      }
      await tx.updateTable('dataset_snapshots').set({ status: 'passed', status_reason: null }).where('id', '=', snapshotId).execute();
      return { verdict, published: await publishSnapshotIn(store, tx, snapshotId) };
    }),
  );
  return { verdict: judged.verdict, status: judged.published ? 'published' : 'rejected', ...(judged.published ? { published: judged.published } : {}), durationMs: Date.now() - started };
}

const QUARANTINE_ROWS_PER_STATEMENT = 500;
/** Symbols per lookup of stored series that are not in the snapshot. */
const SYMBOLS_PER_LOOKUP = 500;
/**
 * Calendar days around the snapshot's first and last dates within which stored bars are compared
 * with its series (lagged_duplicate, duplicate_series): DUPLICATE_MAX_LAG sessions and a weekend and
 * a holiday more, so a lag at the snapshot's edges still finds its bar.
 */
const WINDOW_PAD_DAYS = DUPLICATE_MAX_LAG + 5;
/** Calendar days of stored bars before a snapshot's last date read for the misdating test of a short update (about 270 sessions). */
const MISDATED_LOOKBACK_DAYS = 390;

const shiftDate = (date: string, days: number): string => new Date(Date.parse(`${date}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);

type StoredRow = { symbol: string; date: string; open: unknown; high: unknown; low: unknown; close: unknown; volume: unknown };
const barOf = (r: StoredRow): Bar => ({ symbol: r.symbol, date: r.date, open: Number(r.open), high: Number(r.high), low: Number(r.low), close: Number(r.close), volume: Number(r.volume) });
const byDate = (a: { date: string }, b: { date: string }): number => (a.date < b.date ? -1 : a.date > b.date ? 1 : 0);

/**
 * The stored bars the judging rules need for one symbol of the snapshot (its staged bars ascending
 * by date). `neighbours`, for the rules on the stored bars: the two nearest before its first staged
 * bar and after its last, within STORED_NEIGHBOUR_DAYS, and those on the dates of its staged bars
 * with volume 0. `around`, for the rules across series: every stored bar before its first staged bar
 * and after its last within `window` (the snapshot's dates, padded), and the neighbours. Not the
 * stored bars its rows replace: reading every one of them (as the publish does) nearly doubled the
 * time to judge and publish the 382 S&P 500 files over themselves. `edges`, for the price-basis
 * test: the stored bars on its first and last few staged dates (all of the symbol's stored bars are
 * read only when they show a common factor, storedSeries).
 */
async function storedFor(tx: Kysely<DatabaseSchema>, symbol: string, staged: readonly Bar[], window: { from: string; to: string } | undefined, storedBefore: boolean): Promise<{ neighbours: Bar[]; around: Bar[]; levels: Bar[]; edges: Array<Omit<Bar, 'symbol'>>; span: Array<Omit<Bar, 'symbol'>> }> {
  const first = staged[0].date;
  const last = staged[staged.length - 1].date;
  const near = { from: shiftDate(first, -STORED_NEIGHBOUR_DAYS), to: shiftDate(last, STORED_NEIGHBOUR_DAYS) };
  // The sessions volume rules read a row's level from (60 on one side), whatever the snapshot's window.
  const levels = { from: shiftDate(first, -STORED_CONTEXT_DAYS), to: shiftDate(last, STORED_CONTEXT_DAYS) };
  const reach = { from: [levels.from, ...(window ? [window.from] : [])].sort()[0], to: [levels.to, ...(window ? [window.to] : [])].sort().at(-1) as string };
  const columns = ['symbol', 'date', 'open', 'high', 'low', 'close', 'volume'] as const;
  const base = () => tx.selectFrom('bars').select(columns).where('symbol', '=', symbol);
  const before = (await base().where('date', '<', first).where('date', '>=', reach.from).orderBy('date').execute()).map(barOf);
  const after = (await base().where('date', '>', last).where('date', '<=', reach.to).orderBy('date').execute()).map(barOf);
  // A glitch run of stored bars beside the rows needs the bar on its far side too (one_bar_glitch retractions).
  const neighbours = [...before.filter((b) => b.date >= near.from).slice(-(ONE_BAR_GLITCH_MAX_ROWS + 1)), ...after.filter((b) => b.date <= near.to).slice(0, ONE_BAR_GLITCH_MAX_ROWS + 1)];
  const zero = staged.filter((b) => b.volume === 0).map((b) => b.date);
  if (zero.length > 0) {
    const dates = new Set(zero);
    for (const r of await base().where('date', '>=', zero[0]).where('date', '<=', zero[zero.length - 1]).execute()) if (dates.has(r.date)) neighbours.push(barOf(r));
  }
  neighbours.sort(byDate);
  const inWindow = (b: Bar) => !window || (b.date >= window.from && b.date <= window.to);
  // The stored closes over the staged dates (series_mismatch reads every shared session), one range
  // of the primary key; of them, those on the first and last few staged dates (twice
  // BASIS_EDGE_SESSIONS at each end, so a few dates the store lacks still leave enough shared
  // sessions) for the cheap test of another price basis.
  const span = storedBefore ? (await tx.selectFrom('bars').select(['date', 'open', 'high', 'low', 'close', 'volume']).where('symbol', '=', symbol).where('date', '>=', first).where('date', '<=', last).orderBy('date').execute()).map((r) => ({ date: r.date, open: Number(r.open), high: Number(r.high), low: Number(r.low), close: Number(r.close), volume: Number(r.volume) })) : [];
  const reachEdge = 2 * BASIS_EDGE_SESSIONS;
  const edgeDates = new Set(staged.length <= 2 * reachEdge ? staged.map((b) => b.date) : [...staged.slice(0, reachEdge), ...staged.slice(-reachEdge)].map((b) => b.date));
  const edges = span.filter((b) => edgeDates.has(b.date));
  const inLevels = (b: Bar) => b.date >= levels.from && b.date <= levels.to;
  return { neighbours, around: [...before.filter(inWindow), ...after.filter(inWindow)], levels: [...before.filter(inLevels), ...after.filter(inLevels)], edges, span };
}


/** The stored bars around and over a symbol's staged dates: the sessions whose volumes give each row's level (volume_glitch). */
function volumeContext(symbol: string, stored: { levels: readonly Bar[]; span: ReadonlyArray<Omit<Bar, 'symbol'>> }): Bar[] {
  return [...stored.levels, ...stored.span.map((b) => ({ symbol, ...b }))];
}

/** The first and last date of the stored series of `symbol`. */
async function storedRangeOf(tx: Kysely<DatabaseSchema>, symbol: string): Promise<{ from: string; to: string }> {
  const r = await tx.selectFrom('bars').select((eb) => [eb.fn.min('date').as('from'), eb.fn.max('date').as('to')]).where('symbol', '=', symbol).executeTakeFirstOrThrow();
  return { from: String(r.from), to: String(r.to) };
}

/** Every stored bar of `symbol`, ascending by date. */
async function storedSeries(tx: Kysely<DatabaseSchema>, symbol: string): Promise<Bar[]> {
  return (await tx.selectFrom('bars').select(['symbol', 'date', 'open', 'high', 'low', 'close', 'volume']).where('symbol', '=', symbol).orderBy('date').execute()).map(barOf);
}

/**
 * The bars of `bars` (rows accepted when read, of whole symbols) that the rules on the stored bars
 * (volume_vanished, one_bar_glitch at a file's edges) would reject if judged now, as `symbol\u0000date`,
 * for the symbols in `symbols`. An import of content published before asks it of the bars the store
 * does not hold (lib/ingest/import-bars.ts): a row the judging rejected is kept out of the store
 * by every publish of that content, so the same bytes imported again change nothing and stage no
 * new generation.
 */
export async function rejectedByStoredRules(store: Database, bars: readonly Bar[], symbols: ReadonlySet<string>, policy: Pick<QualityReport['policy'], 'extremeMoveLimit'>): Promise<Set<string>> {
  const bySymbol = new Map<string, Bar[]>();
  for (const b of bars) {
    if (!symbols.has(b.symbol)) continue;
    let list = bySymbol.get(b.symbol);
    if (!list) bySymbol.set(b.symbol, (list = []));
    list.push(b);
  }
  const out = new Set<string>();
  for (const [symbol, list] of bySymbol) {
    list.sort(byDate);
    // The sessions volume_glitch reads a row's level from (60 on one side): as the judge reads them.
    const stored = await storedFor(store.db, symbol, list, { from: shiftDate(list[0].date, -STORED_CONTEXT_DAYS), to: shiftDate(list[list.length - 1].date, STORED_CONTEXT_DAYS) }, true);
    // The kind only decides the zero_volume flag, which rejects nothing.
    const found = storedBarIssues({ symbol, staged: list, stored: stored.neighbours, kind: 'equity', source: '', context: volumeContext(symbol, stored) }, policy);
    for (const date of found.rejected.keys()) out.add(`${symbol}\u0000${date}`);
  }
  return out;
}

/**
 * Runs the rules that need more than the snapshot's rows of one symbol, against the store as it is
 * now, in one transaction that holds the snapshot:
 * - on the stored bars of the symbol (lib/quality/stored-rules.ts: volume_vanished, one_bar_glitch
 *   at a file's first and last rows, zero_volume; price_basis_splice and price_basis_change, rows
 *   revising the stored bars they share by a common factor; series_mismatch, rows whose closes do
 *   not keep one ratio to the stored ones: another security's);
 * - across series (lib/quality/duplicate-series.ts: lagged_duplicate, duplicate_series): each
 *   series of the snapshot, with its stored bars around it, against every other series of the
 *   snapshot and every stored series, within the snapshot's dates (padded by WINDOW_PAD_DAYS).
 * The rows they reject leave the staged chunks (and join their rejected rows, so the publish keeps
 * the stored bars and reports them unconfirmed; a series rejected whole, lagged_duplicate or price_basis_splice, fails the
 * gate), every finding goes to the quarantine, and the snapshot's counts and report include them
 * (applyStoredBarFindings), so the gate judges them with the rest. Returns the report to judge.
 * Runs once per snapshot: a report that records `storedBarChecks` is returned as it is.
 */
export async function checkStoredBars(store: Database, snapshotId: string): Promise<QualityReport> {
  const declared = await declaredInstruments(store);
  return store.db.transaction().execute((tx) => checkStoredBarsIn(store, tx, snapshotId, declared));
}

/** checkStoredBars inside a transaction the caller holds, with the instrument kinds the store declares. */
async function checkStoredBarsIn(store: Database, tx: Transaction<DatabaseSchema>, snapshotId: string, declared: InstrumentMap): Promise<QualityReport> {
  let q = tx.selectFrom('dataset_snapshots').select(['status', 'quality_report', 'source', 'first_date', 'last_date']).where('id', '=', snapshotId);
  // SQLite's BEGIN IMMEDIATE already holds the write lock; MySQL needs the row lock.
  if (store.driver === 'mysql') q = q.forUpdate();
  const row = await q.executeTakeFirstOrThrow();
  const report = JSON.parse(row.quality_report) as QualityReport;
  if (row.status !== 'staged' || report.storedBarChecks !== undefined) return report;
  const source = JSON.parse(row.source) as { path?: unknown; instruments?: unknown; kind?: unknown; declaredSplits?: unknown } | null;
  const declaredSplitsOf = (symbol: string): Map<string, number> | undefined => {
    const all = source?.declaredSplits;
    const dates = all !== null && typeof all === 'object' ? (all as Record<string, unknown>)[symbol] : undefined;
    if (dates === null || typeof dates !== 'object') return undefined;
    return new Map(Object.entries(dates as Record<string, unknown>).filter((e): e is [string, number] => typeof e[1] === 'number'));
  };
  const requested = instrumentMapSchema.safeParse(source?.instruments);
  const instruments: InstrumentMap = { ...declared, ...(requested.success ? requested.data : {}) };
  const fallbackSource = typeof source?.path === 'string' ? source.path : String(source?.kind ?? snapshotId);
  // A short update is judged for misdating with the stored bars of the year before its last date (duplicate-series.ts misdatedSeries).
  const window = row.first_date && row.last_date ? { from: [shiftDate(row.first_date, -WINDOW_PAD_DAYS), shiftDate(row.last_date, -MISDATED_LOOKBACK_DAYS)].sort()[0], to: shiftDate(row.last_date, WINDOW_PAD_DAYS) } : undefined;
  const storedSymbols = new Set((await tx.selectFrom('bars').select('symbol').distinct().execute()).map((r) => r.symbol));

  const findings = new Map<string, SymbolStoredFindings & { issues: QualityIssue[] }>();
  const chunkOf = new Map<string, number>();
  // The staged bars' lines in their files (chunks staged before lines were recorded have none).
  const lines = new Map<string, number>();
  const series: DuplicateCheckSeries[] = [];
  // Findings that may reject a symbol's series whole (price_basis_splice), or flag it, beside the duplicate-series ones.
  const basisIssues: QualityIssue[] = [];
  /** Stored glitches the rows reveal, by symbol: removed by the publish. */
  const retractions = new Map<string, RetractedBar[]>();
  const chunks = await tx.selectFrom('staged_chunks').select('chunk').where('snapshot_id', '=', snapshotId).orderBy('chunk').execute();
  for (const { chunk } of chunks) {
    const staged = await tx.selectFrom('staged_chunks').select('bars').where('snapshot_id', '=', snapshotId).where('chunk', '=', chunk).executeTakeFirstOrThrow();
    const bySymbol = new Map<string, Bar[]>();
    const read = readStagedChunk(staged.bars);
    for (const [k, line] of read.lines) lines.set(k, line);
    for (const b of read.bars) {
      let list = bySymbol.get(b.symbol);
      if (!list) bySymbol.set(b.symbol, (list = []));
      list.push(b);
    }
    for (const [symbol, bars] of bySymbol) {
      bars.sort(byDate);
      chunkOf.set(symbol, Number(chunk));
      const from = report.bySymbol?.[symbol]?.source ?? fallbackSource;
      const stored = await storedFor(tx, symbol, bars, window, storedSymbols.has(symbol));
      // The declared kind (the import's or the store's instruments) says which series are judged misdated and which make the market.
      series.push(seriesOfBars(symbol, bars, stored.around, { storedBefore: storedSymbols.has(symbol), source: from, kind: knownInstrumentKind(symbol, instruments) }));
      const found = storedBarIssues({ symbol, staged: bars, stored: stored.neighbours, kind: instrumentKind(symbol, instruments), source: from, context: volumeContext(symbol, stored) }, report.policy);
      if (found.retracted.size > 0) retractions.set(symbol, [...found.retracted.values()]);
      // The rows to be published against the stored bars they share: another price basis?
      const kept = found.rejected.size > 0 ? bars.filter((b) => !found.rejected.has(b.date)) : bars;
      const atEdges = sharedSessions(kept, stored.edges);
      // Another security's closes (or bars dated on other sessions) do not keep one ratio to the
      // stored ones, anywhere in the sessions they share (not only at the ends).
      // A file dated one session off repeats the stored bar of the session beside each row it meets
      // the store on: found on a one-row update, where the market test below has nothing to go on.
      const repeat = shiftedRepeatIssue({ symbol, staged: kept, stored: [...stored.neighbours, ...stored.span], source: from });
      const mismatch = repeat ?? (mismatchedWindow(sharedSessions(kept, stored.span)) ? seriesMismatchIssue({ symbol, staged: kept, stored: stored.span, source: from, storedRange: await storedRangeOf(tx, symbol) }) : undefined);
      if (mismatch) basisIssues.push(mismatch);
      else {
        const basis = basisAtEdges(atEdges) ? priceBasisIssue({ symbol, staged: kept, stored: await storedSeries(tx, symbol), source: from }) : undefined;
        // A file continuing the stored bars in another unit or with another security's bars, without
        // overlapping them. Rows that revise stored bars by a common factor are the basis rule's (it
        // names the factor and the bars); their seam with stored bars left on the old basis is the same finding.
        // Measured on the store as the publish leaves it: a stored glitch the rows retract is no
        // neighbour (from it, an update of 21 rows or more continuing the bars before it moved ÷10
        // and stayed there, a splice by the test, and was rejected whole with the glitch kept).
        const storedAfter = found.retracted.size === 0 ? stored.neighbours : stored.neighbours.filter((b) => !found.retracted.has(b.date));
        const seam = basis ? undefined : seamSpliceIssue({ symbol, staged: kept, stored: storedAfter, source: from }, report.policy);
        // Every price stepping by a power of ten, the volume not moving by the inverse (no split):
        // another price unit from there on, however few rows follow (a one-row update in cents).
        const context = found.retracted.size === 0 ? volumeContext(symbol, stored) : volumeContext(symbol, stored).filter((b) => !found.retracted.has(b.date));
        const unit = basis || seam ? undefined : unitChangeIssue({ symbol, staged: kept, context, source: from, lineOf: (date) => lines.get(stagedLineKey(symbol, date)) ?? null, declaredSplits: declaredSplitsOf(symbol) });
        if (basis) basisIssues.push(basis);
        else if (seam) basisIssues.push(seam);
        else if (unit) basisIssues.push(unit);
        // Volumes in other units (thousands, lots) over part of the stored ones: the prices agree, so
        // no rule above sees it (rows on another price basis move their volumes inversely, as a split does).
        else {
          const volume = volumeBasisFactor(kept, stored.span) !== undefined ? volumeBasisIssue({ symbol, staged: kept, stored: stored.span, storedRange: await storedRangeOf(tx, symbol), source: from }) : undefined;
          // Or without a shared session to read a factor from: a step in units where the rows meet the stored bars, or within the file.
          const step = volume ?? volumeUnitStep(symbol, kept, volumeContext(symbol, stored), from);
          if (step) basisIssues.push(step);
        }
      }
      if (found.issues.length === 0) continue;
      findings.set(symbol, { symbol, source: from, staged: bars, issues: found.issues, rejected: new Set(found.rejected.keys()) });
    }
  }

  // Stored series of symbols not in the snapshot, within its dates.
  const others = [...storedSymbols].filter((s) => !chunkOf.has(s)).sort();
  for (let i = 0; window && i < others.length; i += SYMBOLS_PER_LOOKUP) {
    const rows = await tx.selectFrom('bars').select(['symbol', 'date', 'open', 'high', 'low', 'close', 'volume']).where('symbol', 'in', others.slice(i, i + SYMBOLS_PER_LOOKUP)).where('date', '>=', window.from).where('date', '<=', window.to).execute();
    const bySymbol = new Map<string, Bar[]>();
    for (const r of rows) {
      let list = bySymbol.get(r.symbol);
      if (!list) bySymbol.set(r.symbol, (list = []));
      list.push(barOf(r));
    }
    for (const [symbol, bars] of bySymbol) series.push(seriesOfBars(symbol, [], bars.sort(byDate), { storedBefore: true, kind: knownInstrumentKind(symbol, instruments) }));
  }
  const duplicates = duplicateSeriesIssues(series);
  const judged = new Map(series.filter((s) => s.staged).map((s) => [s.symbol, s]));
  const stagedDates = (s: DuplicateCheckSeries) => s.date.filter((_, k) => s.staged?.[k] === 1).map((date) => ({ date }));
  // A series the market test finds misdated needs no second finding from its seam with the store.
  const misdated = (f: QualityIssue) => f.rule === 'misdated_series' && duplicates.rejected.get(f.symbol as string)?.rule === 'misdated_series';
  for (const found of [...basisIssues.filter((f) => !misdated(f)), ...duplicates.issues]) {
    const symbol = found.symbol as string;
    const entry = findings.get(symbol) ?? { symbol, source: found.source, staged: stagedDates(judged.get(symbol) as DuplicateCheckSeries), issues: [], rejected: new Set<string>() };
    findings.set(symbol, entry);
    entry.issues.push(found);
    if (!SERIES_LEVEL_RULES.has(found.rule)) continue;
    // Which bars are another symbol's is all of them: none is trusted (as next_session_leak at staging).
    const rejected = new Set(entry.rejected);
    for (const { date } of entry.staged) {
      if (rejected.has(date)) continue;
      rejected.add(date);
      entry.issues.push(issue('file_rejected', { symbol, date, source: found.source, line: lines.get(stagedLineKey(symbol, date)) ?? null, raw: null, message: `this row passed, but its series is rejected whole (${found.rule}): ${found.message}` }));
    }
    entry.rejected = rejected;
    entry.rejectedSeries = { source: found.source, rule: found.rule, reason: found.message };
  }
  const applied = applyStoredBarFindings(report, [...findings.values()]);
  // A retraction stands with a revealing row that is published (not rejected, nor in a file or series rejected whole).
  const retracted: RetractedBar[] = [];
  for (const [symbol, list] of retractions) {
    const dropped = applied.dropped.get(symbol);
    retracted.push(...list.filter((r) => r.revealedBy.some((d) => !dropped?.has(d))));
  }
  if (retracted.length > 0) {
    const recorded: NonNullable<QualityReport['retractedStoredBars']> = [];
    for (const r of retracted) recorded.push({ symbol: r.bar.symbol, date: r.bar.date, open: r.bar.open, high: r.bar.high, low: r.bar.low, close: r.bar.close, volume: r.bar.volume, finding: retractionFinding(r, await describeStoredVersion(tx, r.bar.symbol, r.bar.date)) });
    applied.report = { ...applied.report, storedBarChecks: applied.report.storedBarChecks ?? { rowsRejected: 0, flags: 0 }, retractedStoredBars: recorded };
  }
  if (applied.issues.length === 0 && retracted.length === 0) return report;

  for (const chunk of new Set([...applied.dropped.keys()].map((s) => chunkOf.get(s) as number))) {
    const staged = await tx.selectFrom('staged_chunks').select('bars').where('snapshot_id', '=', snapshotId).where('chunk', '=', chunk).executeTakeFirstOrThrow();
    const { text, rows } = readStagedChunk(staged.bars).without(applied.dropped);
    await tx.updateTable('staged_chunks').set({ bars: text, rows }).where('snapshot_id', '=', snapshotId).where('chunk', '=', chunk).execute();
  }
  for (let i = 0; i < applied.issues.length; i += QUARANTINE_ROWS_PER_STATEMENT) {
    await tx.insertInto('quarantine').ignore().values(applied.issues.slice(i, i + QUARANTINE_ROWS_PER_STATEMENT).map((i) => quarantineRow(snapshotId, i))).execute();
  }
  const next = applied.report;
  if (applied.dropped.size > 0 && next.storedBarChecks) {
    const symbols = [...applied.dropped.keys()].sort();
    next.storedBarChecks.store = { symbols, digest: await storedBarsDigest(tx, symbols) };
  }
  const symbols = Object.keys(next.bySymbol).filter((s) => next.bySymbol[s].rowsAccepted > 0).sort();
  await tx
    .updateTable('dataset_snapshots')
    .set({
      quality_report: JSON.stringify(next),
      row_count: next.rowsAccepted,
      rejected_count: next.rowsRejected,
      flagged_count: next.flags,
      symbols: JSON.stringify(symbols),
      symbol_count: symbols.length,
      first_date: symbols.map((s) => next.bySymbol[s].firstDate as string).sort()[0] ?? null,
      last_date: symbols.map((s) => next.bySymbol[s].lastDate as string).sort().at(-1) ?? null,
    })
    .where('id', '=', snapshotId)
    .execute();
  return next;
}
