import fs from 'node:fs';
import path from 'node:path';
import { nyseTradingDaysBetween } from '../../lib/calendar/nyse';
import { importBars } from '../../lib/ingest/import-bars';
import { importRequestSchema } from '../../lib/ingest/import-request';
import { listQuarantine } from '../../lib/store/quarantine';
import { getSnapshot } from '../../lib/store/snapshots';
import { rng } from '../../lib/random';
import type { QualityRuleId } from '../../lib/quality/rules-catalog';
import { DRIVERS, hasSharedData, SHARED_SP500_DIR, tempDir, type TestDatabase } from '../helpers/databases';
import { dumpStore } from '../helpers/store-dump';

/**
 * Series that are not one security's daily bars, with nothing stored to compare them with:
 * - two securities spliced in time in one file (one's bars up to a day, another's after it), or a
 *   file continuing the stored bars in cents, were published with an extreme_move flag at the seam;
 * - weekly or monthly bars were published as daily bars with calendar_gap flags.
 * Each is rejected whole now (series_splice, bar_interval), the import fails naming it, and the store
 * is unchanged; a real move on a volume spike and an unadjusted split are still published.
 */
const DAYS = nyseTradingDaysBetween('2015-01-02', '2018-12-31');
const NOW = () => new Date('2019-01-10T22:00:00Z');
const HEADER = 'Date,Open,High,Low,Close,Volume';
const cents = (x: number) => Math.round(x * 100) / 100;

/** A random walk of daily bars from DAYS[from] to DAYS[to] (exclusive) around `level` and `volume`; `jump` rescales closes from a day on. */
function walk(seed: number, from: number, to: number, level: number, volume: number, jump?: { at: number; factor: number; volume?: number }): string[] {
  const draw = rng(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - draw())) * Math.cos(2 * Math.PI * draw());
  let close = level;
  const out: string[] = [];
  for (let i = from; i < to; i++) {
    if (jump && i === jump.at) close *= jump.factor;
    const open = cents(close * (1 + 0.004 * gauss()));
    close = cents(open * (1 + 0.012 * gauss()));
    const high = cents(Math.max(open, close) * (1 + 0.005 * Math.abs(gauss())));
    const low = cents(Math.min(open, close) * (1 - 0.005 * Math.abs(gauss())));
    const spike = jump && i === jump.at ? (jump.volume ?? 1) : 1;
    out.push(`${DAYS[i]},${open},${high},${low},${close},${Math.round(volume * spike * Math.exp(0.25 * gauss()))}`);
  }
  return out;
}

function folder(files: Record<string, readonly string[]>): string {
  const dir = tempDir('mlp-splice-');
  for (const [name, lines] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), `${HEADER}\n${lines.join('\n')}\n`);
  return dir;
}
const csv = (dir: string) => importRequestSchema.parse({ source: { kind: 'csv', path: dir }, quality: { minHistoryBars: 1 } });

describe.each(DRIVERS)('series that are not one security’s daily bars on %s', (_driver, create) => {
  let t: TestDatabase;
  beforeEach(async () => {
    t = await create();
  });
  afterEach(async () => {
    await t?.drop();
  });

  async function refused(dir: string, rule: QualityRuleId, message: RegExp): Promise<void> {
    const before = await dumpStore(t.store);
    const summary = await importBars(t.store, csv(dir), { now: NOW });
    expect(summary.status).toBe('rejected');
    expect(summary.byRule[rule]).toBe(1);
    const snapshot = await getSnapshot(t.store, summary.snapshotId);
    expect(snapshot?.statusReason).toMatch(message);
    expect((await listQuarantine(t.store, { snapshotId: summary.snapshotId, rule })).map((q) => q.rule)).toEqual([rule]);
    const after = await dumpStore(t.store);
    expect(after.bars).toEqual(before.bars);
  }

  it('two securities spliced inside one file (×0.4 at the seam, no volume spike) are rejected whole (series_splice)', async () => {
    const first = walk(1, 0, 300, 60, 1_000_000);
    const lines = [...first, ...walk(2, 300, 600, 0.42 * Number(first[299].split(',')[4]), 3_000_000)];
    await refused(folder({ 'abc.csv': lines }), 'series_splice', new RegExp(`series of ABC from .*abc\\.csv rejected whole \\(series_splice\\): close .* \\(${DAYS[299]}\\) -> .* \\(${DAYS[300]}\\).*no split ratio fits.*two securities, or two price units`));
  });

  it('a file continuing the stored bars in cents, without overlapping them, is rejected whole (series_splice at the seam)', async () => {
    const stored = walk(3, 0, 300, 60, 1_000_000);
    expect((await importBars(t.store, csv(folder({ 'abc.csv': stored })), { now: NOW })).status).toBe('published');
    const last = Number(stored[stored.length - 1].split(',')[4]);
    const inCents = walk(4, 300, 400, last, 1_000_000).map((l) => l.split(',').map((x, k) => (k >= 1 && k <= 4 ? (Number(x) * 100).toFixed(0) : x)).join(','));
    await refused(folder({ 'abc.csv': inCents }), 'series_splice', new RegExp(`where the file meets the stored bars of ABC \\(as stored ${DAYS[299]} -> the file ${DAYS[300]}\\)`));
  });

  it('a file switching to cents from a day of heavy volume is rejected whole, alone or over the stored bars it revises (series_splice)', async () => {
    // ×100 from session 300, on a day trading 4 times the usual: the volume spike that lets a real move keep its level.
    const lines = walk(11, 0, 400, 60, 1_000_000, { at: 300, factor: 1, volume: 4 }).map((l, i) => (i < 300 ? l : l.split(',').map((x, k) => (k >= 1 && k <= 4 ? (Number(x) * 100).toFixed(0) : x)).join(',')));
    await refused(folder({ 'abc.csv': lines }), 'series_splice', new RegExp(`close .* \\(${DAYS[299]}\\) -> .* \\(${DAYS[300]}\\), ×\\d+\\.?\\d*, about ×100, and the series stays there.*another price unit`));
    // Over the same security's stored bars (in dollars): before, 100 stored bars were revised to cents with a basis-change flag.
    expect((await importBars(t.store, csv(folder({ 'abc.csv': lines.slice(0, 300).concat(walk(11, 0, 400, 60, 1_000_000, { at: 300, factor: 1, volume: 4 }).slice(300)) })), { now: NOW })).status).toBe('published');
    await refused(folder({ 'abc.csv': lines.slice(200) }), 'series_splice', /about ×100/);
  });

  it('volumes continuing the stored bars in thousands or lots, sharing no session, are rejected whole (volume_basis_splice), as is a file switching units mid-way', async () => {
    const stored = walk(12, 0, 300, 60, 1_000_000);
    expect((await importBars(t.store, csv(folder({ 'abc.csv': stored })), { now: NOW })).status).toBe('published');
    const volumes = (lines: readonly string[], k: number) => lines.map((l) => l.replace(/,(\d+)$/, (_m, v: string) => `,${Math.round(Number(v) * k)}`));
    const next = walk(13, 300, 550, Number(stored[stored.length - 1].split(',')[4]), 1_000_000);
    await refused(folder({ 'abc.csv': volumes(next, 0.001) }), 'volume_basis_splice', new RegExp(`volumes of ABC step where the file continues the stored bars at ${DAYS[300]}`));
    await refused(folder({ 'abc.csv': volumes(next.slice(0, 5), 0.01) }), 'volume_basis_splice', /step where the file continues the stored bars/);
    await refused(folder({ 'xyz.csv': [...walk(14, 0, 200, 40, 2_000_000), ...volumes(walk(15, 200, 400, 40, 2_000_000), 0.001)] }), 'volume_basis_splice', new RegExp(`volumes of XYZ step in the file at ${DAYS[200]}`));
    // In shares, as stored: published.
    expect((await importBars(t.store, csv(folder({ 'abc.csv': next })), { now: NOW })).status).toBe('published');
  });

  it.each([
    ['weekly', 5, /lie a median of 5 NYSE sessions apart, not one: bars of another interval \(weekly\)/],
    ['monthly', 21, /lie a median of 21 NYSE sessions apart, not one: bars of another interval \(monthly\)/],
  ])('%s bars are rejected whole (bar_interval)', async (_label, every, message) => {
    const lines = walk(5, 0, 600, 60, 1_000_000).filter((_, i) => i % every === 0);
    await refused(folder({ 'abc.csv': lines }), 'bar_interval', message);
  });

  it('a file without its down days over a stretch is rejected whole (sparse_series); a few missing sessions, and rows read but rejected, are not', async () => {
    const closeOf = (l: string) => Number(l.split(',')[4]);
    // Sessions 200..225 without the days that closed lower: only rising rows would be labelled.
    const downDaysDropped = (all: readonly string[]) => all.filter((l, i) => i < 200 || i >= 226 || closeOf(l) >= closeOf(all[i - 1]));
    const lines = walk(16, 0, 300, 60, 1_000_000);
    const withoutDownDays = downDaysDropped(lines);
    expect(lines.length - withoutDownDays.length).toBeGreaterThan(8);
    await refused(folder({ 'abc.csv': withoutDownDays }), 'sparse_series', /separate runs of missing NYSE sessions .* within 60 sessions, more than the 4 allowed \(maxSessionGaps\)/);
    // Four single sessions missing within 60 (the real S&P 500 files hold at most 2): flags only.
    const four = lines.filter((_, i) => ![100, 110, 120, 130].includes(i));
    const summary = await importBars(t.store, csv(folder({ 'abc.csv': four })), { now: NOW });
    expect([summary.status, summary.byRule.calendar_gap, summary.byRule.sparse_series]).toEqual(['published', 4, undefined]);
    // Six rows of another symbol's file broken (high below the close) within 60 sessions: rejected rows, not missing sessions.
    const broken = walk(17, 0, 300, 40, 1_000_000).map((l, i) => ([50, 60, 70, 80, 90, 100].includes(i) ? l.split(',').map((x, k) => (k === 2 ? '1' : x)).join(',') : l));
    const partly = await importBars(t.store, csv(folder({ 'xyz.csv': broken })), { now: NOW });
    expect([partly.status, partly.byRule.ohlc_inconsistent, partly.byRule.sparse_series]).toEqual(['published', 6, undefined]);
    // A universe of thinly traded securities raises the limit.
    const relaxed = importRequestSchema.parse({ source: { kind: 'csv', path: folder({ 'def.csv': downDaysDropped(walk(18, 0, 300, 30, 2_000_000)) }) }, quality: { minHistoryBars: 1, maxSessionGaps: 20 } });
    const thin = await importBars(t.store, relaxed, { now: NOW });
    expect([thin.status, thin.byRule.sparse_series]).toEqual(['published', undefined]);
  });

  it('volumes in thousands over part of the stored ones are rejected whole (volume_basis_splice); over every stored bar, and in another vendor’s counting, they are published', async () => {
    const stored = walk(8, 0, 300, 60, 1_000_000);
    expect((await importBars(t.store, csv(folder({ 'abc.csv': stored })), { now: NOW })).status).toBe('published');
    const scaled = (lines: readonly string[], f: (i: number) => number) => lines.map((l, i) => l.replace(/,(\d+)$/, (_m, v: string) => `,${Math.round(Number(v) * f(i))}`));
    const thousands = scaled(stored.slice(100), () => 0.001);
    await refused(folder({ 'abc.csv': thousands }), 'volume_basis_splice', new RegExp(`the rows of ABC revise the stored volumes of the 200 sessions they share by a common factor of ×0\\.00100 .*the stored bars before ${DAYS[100]} would keep the old units`));
    // Before: one common factor under ×10 (another volume definition), and ÷10 itself once rounded to whole shares, were published with no finding.
    for (const factor of [0.25, 3, 0.1]) await refused(folder({ 'abc.csv': scaled(stored.slice(100), () => factor) }), 'volume_basis_splice', /by a common factor of ×/);
    // An update overlapping the store by two sessions, in thousands: the older bars would keep shares. Before: fewer than 5 shared sessions were never judged.
    await refused(folder({ 'abc.csv': scaled(stored.slice(298), () => 0.001) }), 'volume_basis_splice', /revise the stored volumes of the 2 sessions they share by a common factor of ×0\.00100/);
    // Another vendor's count (a third to a half of the stored volumes, day by day) is no unit.
    const draw = rng(9);
    expect((await importBars(t.store, csv(folder({ 'abc.csv': scaled(stored.slice(100), () => 0.33 + 0.2 * draw()) })), { now: NOW })).status).toBe('published');
    const whole = await importBars(t.store, csv(folder({ 'abc.csv': scaled(stored, () => 0.001) })), { now: NOW });
    expect([whole.status, whole.byRule.volume_basis_splice]).toEqual(['published', undefined]);
  });

  it('a real move on a volume spike and unadjusted 2:1 and 1:8 reverse splits are published (flags only)', async () => {
    const crash = walk(6, 0, 400, 60, 1_000_000, { at: 200, factor: 0.55, volume: 6 });
    const split = walk(7, 0, 400, 60, 1_000_000, { at: 200, factor: 0.5 }).map((l, i) => (i < 200 ? l : l.replace(/,(\d+)$/, (_m, v: string) => `,${Number(v) * 2}`)));
    // A 1:8 reverse split, unadjusted: prices ×8, volumes ÷8 (the traded value carries on).
    const reverse = walk(10, 0, 400, 3, 8_000_000, { at: 200, factor: 8 }).map((l, i) => (i < 200 ? l : l.replace(/,(\d+)$/, (_m, v: string) => `,${Math.round(Number(v) / 8)}`)));
    const summary = await importBars(t.store, csv(folder({ 'crsh.csv': crash, 'splt.csv': split, 'rvrs.csv': reverse })), { now: NOW });
    expect(summary.status).toBe('published');
    expect(summary.byRule.series_splice).toBeUndefined();
    expect(summary.byRule.extreme_move).toBe(3);
  });

  (hasSharedData ? it : it.skip)('real bars: IBM up to 2015-12-31 then MSFT in one file is refused; both files whole and the halves imported one after the other are published', async () => {
    const read = (s: string) => fs.readFileSync(path.join(SHARED_SP500_DIR, `${s}.csv`), 'utf8').trim().split('\n').slice(1).map((l) => l.split(',').slice(0, 6).join(','));
    const ibm = read('IBM');
    const msft = read('MSFT');
    const spliced = [...ibm.filter((l) => l < '2016'), ...msft.filter((l) => l >= '2016')];
    await refused(folder({ 'ibm.csv': spliced }), 'series_splice', /close 137\.62 \(2015-12-31\) -> 54\.8 \(2016-01-04\)/);
    expect((await importBars(t.store, csv(folder({ 'ibm.csv': ibm.filter((l) => l < '2016') })), { now: NOW })).status).toBe('published');
    expect((await importBars(t.store, csv(folder({ 'ibm.csv': ibm.filter((l) => l >= '2016') })), { now: NOW })).status).toBe('published');
  });
});
