import fs from 'node:fs';
import { Command } from 'commander';
import { escapeControl } from '../../lib/quality/excerpt';
import { printableJson } from '../../lib/printable-json';
import { withStore } from '../with-store';
import { lazy } from '../lazy';
import { parseNumberFlag } from '../number-flag';
import { isIsoDate } from '../../lib/calendar/dates';
import type { Database } from '../../lib/store/database';

export function snapshotsCommand(): Command {
  const cmd = new Command('snapshots').description('dataset snapshots recorded by imports');
  cmd
    .command('list')
    .description('most recent snapshots first')
    .option('--limit <n>', 'how many', '20')
    .option('--json', 'as JSON')
    .action((opts: { limit: string; json?: boolean }) =>
      withStore(async (store) => {
        const { listSnapshots } = lazy.snapshots();
        const limit = parseNumberFlag('--limit', opts.limit, { int: true, min: 1, max: 1000 });
        const snapshots = await listSnapshots(store, limit);
        if (opts.json) return console.log(printableJson(snapshots));
        if (snapshots.length === 0) console.log('no snapshots yet: a run records one per import ("mlp run --source <path>")');
        for (const s of snapshots) {
          console.log(escapeControl(`${s.id}  ${s.status.padEnd(9)} ${String(s.symbols.length).padStart(4)} symbols ${s.firstDate}..${s.lastDate} ${s.rowCount} bars, ${s.rejectedCount} rejected, ${s.flaggedCount} flags  ${s.createdAt}`));
        }
      }),
    );
  cmd
    .command('show <id>')
    .description('one snapshot with its quality report')
    .action((id: string) =>
      withStore(async (store) => {
        const { getSnapshot } = lazy.snapshots();
        const { listRevisions, describeSuperseded, describeUnconfirmed, supersededOf, unconfirmedOf } = lazy.staging();
        const { describeInstrumentKinds, instrumentMapSchema } = lazy.instruments();
        const s = await getSnapshot(store, id);
        if (!s) throw new Error(`No snapshot ${id}; list them with "snapshots list"`);
        console.log(printableJson({ ...s, qualityReport: { ...s.qualityReport, bySymbol: `${Object.keys(s.qualityReport.bySymbol ?? {}).length} symbols` } }));
        const declared = instrumentMapSchema.safeParse((s.source as { instruments?: unknown } | null)?.instruments ?? {});
        console.log(escapeControl(`instrument kinds: ${describeInstrumentKinds(s.symbols, declared.success ? declared.data : {}) || 'none'}`));
        if (s.status === 'published') {
          console.log(`published ${s.publishedAt}: ${s.barsAdded ?? 0} bars added, ${s.barsRevised ?? 0} revised`);
          for (const r of await listRevisions(store, id, 10)) {
            const now = r.new;
            const fields = now === null ? [`retracted (one_bar_glitch): close ${r.old.close}, removed`] : (['open', 'high', 'low', 'close', 'volume'] as const).filter((f) => r.old[f] !== now[f]).map((f) => `${f} ${r.old[f]} → ${now[f]}`);
            console.log(escapeControl(`  ${r.symbol.padEnd(8)} ${r.date}  ${fields.join(', ')}`));
          }
          if ((s.barsRevised ?? 0) > 10) console.log(`  … ${(s.barsRevised ?? 0) - 10} more revisions`);
          // Stored bars within the file's dates that it rejected or lacks: kept as stored, reported.
          const unconfirmed = describeUnconfirmed(unconfirmedOf(s.qualityReport));
          if (unconfirmed) console.log(escapeControl(unconfirmed));
          // Stored bars newer than the file's content: kept as stored, reported.
          const superseded = describeSuperseded(supersededOf(s.qualityReport));
          if (superseded) console.log(escapeControl(superseded));
        }
      }),
    );
  return cmd;
}

/**
 * One quarantined row or series as `quarantine` prints it, escaped (escapeControl): rows are stored
 * escaped (lib/store/quarantine.ts), but a row written before that, by hand or by another build is
 * printed as it is stored, and could drive the terminal or fake lines.
 */
export function quarantineLine(q: { severity: string; rule: string; symbol: string | null; date: string | null; source: string; line: number | null; message: string }): string {
  return escapeControl(`${q.severity.padEnd(6)} ${q.rule.padEnd(18)} ${(q.symbol ?? '-').padEnd(6)} ${q.date ?? '-'}  ${q.source}${q.line !== null ? `:${q.line}` : ''}  ${q.message}`);
}

export function quarantineCommand(): Command {
  return new Command('quarantine')
    .description('rows and series the quality rules rejected or flagged')
    .option('--snapshot <id>', 'only this snapshot')
    .option('--rule <rule>', 'only this rule (e.g. ohlc_inconsistent)')
    .option('--symbol <symbol>', 'only this symbol')
    .option('--limit <n>', 'how many', '50')
    .action((opts: { snapshot?: string; rule?: string; symbol?: string; limit: string }) =>
      withStore(async (store) => {
        const { listQuarantine } = lazy.quarantine();
        const { parseSymbol } = lazy.symbols();
        const limit = parseNumberFlag('--limit', opts.limit, { int: true, min: 1, max: 10000 });
        for (const q of await listQuarantine(store, { snapshotId: opts.snapshot, rule: opts.rule, symbol: opts.symbol === undefined ? undefined : parseSymbol(opts.symbol), limit })) {
          console.log(quarantineLine(q));
        }
      }),
    );
}

export function dataCommand(): Command {
  const cmd = new Command('data').description('the stored bars');
  cmd
    .command('sign-bars')
    .description(
      'sign the stored bars with MODEL_SIGNING_KEY where no key vouches for them yet: after a key rotation (the old key in MODEL_SIGNING_PREVIOUS_KEYS confirms them) signed again with the new key; with --accept-unsigned, bars written before signing was configured are signed as they stand. A bar whose signature does not match it (edited in the database) is never signed: import its dates again',
    )
    .option('--accept-unsigned', 'sign bars without a signature as they stand, those dated before their symbol\'s first signed bar (written before signing was configured; check them first: that is what the signatures would have caught); it lists them')
    .action((flags: { acceptUnsigned?: boolean }) =>
      withStore(async (store) => {
        const { loadConfig, configuredSigning } = lazy.config();
        const config = loadConfig();
        if (config.modelSigningKey === undefined) throw new Error('MODEL_SIGNING_KEY is not set: there is no key to sign bars with; set it to the key the workers and the prediction API use (docs/configuration.md)');
        const r = await lazy.barSignature().signStoredBars(store, configuredSigning(config), { acceptUnsigned: flags.acceptUnsigned === true });
        const unsignedLeft = flags.acceptUnsigned === true ? 0 : r.unsigned;
        console.log(`${r.examined} bars examined: ${r.signed} signed (${r.previousKey} a previous key had signed${flags.acceptUnsigned === true ? `, ${r.unsigned} unsigned accepted as they stood` : ''})`);
        if (r.acceptedRanges.length > 0) console.log(escapeControl(`accepted as they stood: ${r.acceptedRanges.join('; ')}`));
        if (unsignedLeft - r.strippedInside > 0) console.log(`${unsignedLeft - r.strippedInside} bars carry no signature and were left unsigned: the features step refuses them; check them and run again with --accept-unsigned`);
        if (r.mismatched + r.otherKey + r.strippedInside > 0) {
          console.log(escapeControl(`${r.mismatched} bars edited since they were signed, ${r.otherKey} signed with a key not held and ${r.strippedInside} unsigned inside a signed history (their signature removed) were NOT signed (e.g. ${r.examples.join(', ')}): import their dates again from the source`));
          process.exitCode = 1;
        }
      }),
    );
  return cmd;
}

export function newsCommand(): Command {
  const cmd = new Command('news').description('dated headlines for the news_sentiment feature');
  cmd
    .command('import <csv>')
    .description('score and store headlines from a CSV: date,time,symbol,headline[,vendor_id] (time HH:MM optional; empty symbol = market-wide; vendor_id or story_id: the vendor\'s story id)')
    .action((file: string) =>
      withStore(async (store) => {
        const { parseHeadlinesCsv } = lazy.headlines();
        const { saveHeadlines } = lazy.newsStore();
        const { headlines, errors } = parseHeadlinesCsv(fs.readFileSync(file, 'utf8'), file);
        for (const e of errors) console.error(escapeControl(`${file}:${e.line}: ${e.message}`));
        await saveHeadlines(store, headlines);
        console.log(`read ${headlines.length} headlines from ${file} (the same story seen again is stored once, at its latest stamp)${errors.length ? `; ${errors.length} rows refused (listed above)` : ''}`);
        if (headlines.length > 0) await withdrawOnlineVectors(store, 'these headlines');
        if (errors.length > 0) process.exitCode = 1;
      }, { create: true }), // an import: the first one may create the store
    );
  cmd
    .command('list')
    .description('stored headlines, newest effective date first: id, effective date, latest (and earliest) stamp, symbol, score, text')
    .option('--symbol <symbol>', 'only this symbol ("-" for market-wide news)')
    .option('--from <date>', 'effective on or after (YYYY-MM-DD)')
    .option('--to <date>', 'effective on or before (YYYY-MM-DD)')
    .option('--limit <n>', 'how many', '50')
    .option('--json', 'as JSON')
    .action((opts: { symbol?: string; from?: string; to?: string; limit: string; json?: boolean }) =>
      withStore(async (store) => {
        const limit = parseNumberFlag('--limit', opts.limit, { int: true, min: 1, max: 10000 });
        for (const [flag, value] of [['--from', opts.from], ['--to', opts.to]] as const) {
          // A real calendar date: 2017-02-30 compared as text would silently select another range.
          if (value !== undefined && !isIsoDate(value)) throw new Error(`${flag} must be a date YYYY-MM-DD, got ${JSON.stringify(value)}`);
        }
        if (opts.from !== undefined && opts.to !== undefined && opts.from > opts.to) throw new Error(`--from ${opts.from} is after --to ${opts.to}: nothing could match`);
        const symbol = opts.symbol === undefined ? undefined : opts.symbol === '-' ? null : lazy.symbols().parseSymbol(opts.symbol);
        // One more than asked, to say when the limit cut the list.
        const found = await lazy.newsStore().listHeadlines(store, { symbol, from: opts.from, to: opts.to, limit: limit + 1 });
        const rows = found.slice(0, limit);
        const cut = found.length > limit;
        if (opts.json) return console.log(printableJson(rows));
        if (cut) console.error(`showing the ${limit} newest; more match (raise --limit, or narrow --from/--to)`);
        if (rows.length === 0) console.log('no headlines stored for this selection ("mlp news import <csv>")');
        for (const h of rows) {
          const stamps = h.firstPublished === h.published ? h.published : `${h.published} (first ${h.firstPublished})`;
          console.log(escapeControl(`${h.id}  ${h.effectiveDate}  ${stamps.padEnd(16)}  ${(h.symbol ?? '-').padEnd(6)} ${h.score.toFixed(3).padStart(7)}  ${h.headline}`));
        }
      }),
    );
  cmd
    .command('remove <id>')
    .description('remove one stored headline (withdrawn, or stamped wrong by more than a day) and mark the feature rows it reached stale; an import of a file that still holds it stores it again')
    .action((id: string) =>
      withStore(async (store) => {
        const removed = await lazy.newsStore().removeHeadline(store, id);
        if (!removed) throw new Error(`No stored headline ${id}; list them with "mlp news list"`);
        console.log(escapeControl(`removed ${removed.id}: ${removed.symbol ?? 'market-wide'} ${removed.published} "${removed.headline}"; feature rows from ${removed.effectiveDate} are recomputed by the next features step`));
        await withdrawOnlineVectors(store, 'this removal');
      }),
    );
  return cmd;
}

/** Online vectors of the dates a news change reaches are not served as current until the features step recomputes them. */
async function withdrawOnlineVectors(store: Database, what: string): Promise<void> {
  const config = lazy.config().loadConfig();
  if (!config.redisUrl) return;
  const cache = lazy.cache().openCache(config.redisUrl);
  try {
    const withdrawn = await lazy.onlineFeatures().withdrawStaleOnlineVectors(store, cache);
    if (withdrawn > 0) console.log(`withdrew ${withdrawn} online vectors computed before ${what}; the API answers from the offline rows before them until the features step runs`);
  } finally {
    await cache.close();
  }
}
