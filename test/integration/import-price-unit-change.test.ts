import fs from 'node:fs';
import path from 'node:path';
import { nyseTradingDaysBetween } from '../../lib/calendar/nyse';
import { importBars } from '../../lib/ingest/import-bars';
import { importRequestSchema } from '../../lib/ingest/import-request';
import { listQuarantine } from '../../lib/store/quarantine';
import { getSnapshot } from '../../lib/store/snapshots';
import { rng } from '../../lib/random';
import { DRIVERS, hasSharedData, SHARED_SP500_DIR, tempDir, type TestDatabase } from '../helpers/databases';
import { dumpStore } from '../helpers/store-dump';

/**
 * Prices in another unit at the end of a file, or in a daily update: a file continuing the stored
 * history with its last rows ×100 (cents) and the volume unchanged, or a one-row update in cents,
 * was published as the newest bars with an extreme_move flag (series_splice needs 20 bars after the
 * step), and the next correct day was published beside them. Now the series is rejected whole
 * (price_unit_change), the import fails naming it, the store is unchanged, and a correct file then
 * publishes. Unadjusted reverse splits (prices ×10, volume ÷10) are still published.
 */
const DAYS = nyseTradingDaysBetween('2015-01-02', '2018-12-31');
const NOW = () => new Date('2019-01-10T22:00:00Z');
const HEADER = 'Date,Open,High,Low,Close,Volume';
const cents = (x: number) => Math.round(x * 100) / 100;

/** A random walk of daily bars from DAYS[from] to DAYS[to] (exclusive) starting at `level`, volumes around `volume`. */
function walk(seed: number, from: number, to: number, level: number, volume: number): string[] {
  const draw = rng(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - draw())) * Math.cos(2 * Math.PI * draw());
  let close = level;
  const out: string[] = [];
  for (let i = from; i < to; i++) {
    const open = cents(close * (1 + 0.004 * gauss()));
    close = cents(open * (1 + 0.012 * gauss()));
    const high = cents(Math.max(open, close) * (1 + 0.005 * Math.abs(gauss())));
    const low = cents(Math.min(open, close) * (1 - 0.005 * Math.abs(gauss())));
    out.push(`${DAYS[i]},${open},${high},${low},${close},${Math.round(volume * Math.exp(0.25 * gauss()))}`);
  }
  return out;
}

/** `lines` with prices × `price` and volumes × `volume` from index `from` on. */
function rescaled(lines: readonly string[], from: number, price: number, volume = 1): string[] {
  return lines.map((l, i) => (i < from ? l : l.split(',').map((x, k) => (k >= 1 && k <= 4 ? String(+(Number(x) * price).toPrecision(10)) : k === 5 ? String(Math.round(Number(x) * volume)) : x)).join(',')));
}

function folder(lines: readonly string[], header = HEADER): string {
  const dir = tempDir('mlp-unit-');
  fs.writeFileSync(path.join(dir, 'abc.csv'), `${header}\n${lines.join('\n')}\n`);
  return dir;
}
const csv = (dir: string) => importRequestSchema.parse({ source: { kind: 'csv', path: dir }, quality: { minHistoryBars: 1 } });

describe.each(DRIVERS)('prices in another unit at the end of a file or in an update on %s', (_driver, create) => {
  let t: TestDatabase;
  beforeEach(async () => {
    t = await create();
  });
  afterEach(async () => {
    await t?.drop();
  });

  async function refused(lines: readonly string[], message: RegExp, header = HEADER): Promise<void> {
    const before = await dumpStore(t.store);
    const revisions = await t.store.db.selectFrom('bar_revisions').selectAll().execute();
    const summary = await importBars(t.store, csv(folder(lines, header)), { now: NOW });
    expect(summary.status).toBe('rejected');
    expect(summary.byRule.price_unit_change).toBe(1);
    expect((await getSnapshot(t.store, summary.snapshotId))?.statusReason).toMatch(message);
    const found = await listQuarantine(t.store, { snapshotId: summary.snapshotId, rule: 'price_unit_change' });
    expect(found.map((q) => q.rule)).toEqual(['price_unit_change']);
    // Every row of the file is rejected with it, each at its line.
    const rows = await listQuarantine(t.store, { snapshotId: summary.snapshotId, rule: 'file_rejected', limit: 10_000 });
    expect(rows).toHaveLength(lines.length);
    expect(rows.map((q) => q.line).sort((a, b) => (a as number) - (b as number))).toEqual(lines.map((_, i) => i + 2));
    const after = await dumpStore(t.store);
    expect(after.bars).toEqual(before.bars);
    expect(await t.store.db.selectFrom('bar_revisions').selectAll().execute()).toEqual(revisions);
  }

  it('a file whose last row, or last 3 rows, are in cents is rejected whole (no stored bars)', async () => {
    const lines = walk(1, 0, 100, 190, 3_000_000);
    await refused(rescaled(lines, 99, 100), new RegExp(`price_unit_change\\): in the file's rows of ABC \\(the file ${DAYS[98]} -> the file ${DAYS[99]}\\): close .* about ×100.*volume did not move by the inverse.*the row of ${DAYS[99]} looks like prices in cents`));
    await refused(rescaled(lines, 97, 100), /the 3 rows from .* look like prices in cents/);
  });

  it('a one-row, 2-row or 5-row daily update in cents (or ÷100) is refused against the stored bars; the correct update then publishes, and its next day too', async () => {
    const history = walk(2, 0, 306, 190, 3_000_000);
    expect((await importBars(t.store, csv(folder(history.slice(0, 300))), { now: NOW })).status).toBe('published');
    const seam = new RegExp(`where the file continues the stored bars of ABC \\(as stored ${DAYS[299]} -> the file ${DAYS[300]}\\): close .* about ×100`);
    await refused(rescaled(history.slice(300, 301), 0, 100), seam);
    await refused(rescaled(history.slice(300, 302), 0, 100), seam);
    await refused(rescaled(history.slice(300, 305), 0, 100), seam);
    await refused(rescaled(history.slice(300, 301), 0, 0.01), /about ÷100.*like prices in dollars after cents/);
    // A misplaced point (×10) with the volume as before: no 1:10 reverse split.
    await refused(rescaled(history.slice(300, 301), 0, 10), /about ×10,.*a 1:10 reverse split would have moved it ÷10/);
    // Nothing bad was stored, so the correct rows just publish.
    const fixed = await importBars(t.store, csv(folder(history.slice(300, 305))), { now: NOW });
    expect([fixed.status, fixed.byRule.price_unit_change, fixed.byRule.extreme_move]).toEqual(['published', undefined, undefined]);
    const next = await importBars(t.store, csv(folder(history.slice(305, 306))), { now: NOW });
    expect(next.status).toBe('published');
    expect((await dumpStore(t.store)).bars).toHaveLength(306);
  });

  it('an unadjusted 1:10 reverse split in the last rows (prices ×10, volume ÷10) is published with its flag, and so is one as a one-row update', async () => {
    const lines = rescaled(walk(3, 0, 100, 4, 30_000_000), 95, 10, 0.1);
    const summary = await importBars(t.store, csv(folder(lines)), { now: NOW });
    expect([summary.status, summary.byRule.price_unit_change, summary.byRule.extreme_move]).toEqual(['published', undefined, 1]);
    const update = rescaled(walk(4, 100, 201, 40, 3_000_000), 100, 10, 0.1);
    expect((await importBars(t.store, csv(folder(update.slice(0, 100))), { now: NOW })).status).toBe('published');
    const split = await importBars(t.store, csv(folder(update.slice(100))), { now: NOW });
    expect([split.status, split.byRule.price_unit_change, split.byRule.extreme_move]).toEqual(['published', undefined, 1]);
  });

  (hasSharedData ? it : it.skip)('real bars: IBM’s next session in cents over its stored first 300 rows is refused; in dollars it is published', async () => {
    const ibm = fs.readFileSync(path.join(SHARED_SP500_DIR, 'IBM.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(',').slice(0, 6).join(','));
    expect((await importBars(t.store, csv(folder(ibm.slice(0, 300))), { now: NOW })).status).toBe('published');
    const [date] = ibm[300].split(',');
    await refused(rescaled(ibm.slice(300, 301), 0, 100), new RegExp(`\\(as stored ${ibm[299].split(',')[0]} -> the file ${date}\\): close ${Number(ibm[299].split(',')[4])} .* about ×100`));
    const fine = await importBars(t.store, csv(folder(ibm.slice(300, 301))), { now: NOW });
    expect([fine.status, fine.byRule.extreme_move]).toEqual(['published', undefined]);
  });

  it('a one-row update with its volume scaled alike (×100, ×10, ÷10) or moved the same way is refused: only a volume move by the inverse is a split', async () => {
    const history = walk(5, 0, 300, 50, 2_000_000);
    expect((await importBars(t.store, csv(folder(history.slice(0, 299))), { now: NOW })).status).toBe('published');
    const last = history.slice(299);
    await refused(rescaled(last, 0, 100, 100), /about ×100.*the volume did not move by the inverse/);
    await refused(rescaled(last, 0, 10, 10), /about ×10,.*the volume did not move by the inverse/);
    await refused(rescaled(last, 0, 0.1, 0.1), /about ÷10,.*a 10:1 split would have moved it ×10/);
    await refused(rescaled(last, 0, 100, 10), /about ×100/);
    await refused(rescaled(last, 0, 100, 0.1), /about ×100.*a 1:100 reverse split would have moved it ÷100/);
    const fine = await importBars(t.store, csv(folder(last)), { now: NOW });
    expect([fine.status, fine.byRule.price_unit_change]).toEqual(['published', undefined]);
  });

  it('a file whose last rows follow a 1:10 reverse split its Split Ratio column declares is published, the volume only ÷2; undeclared it is refused', async () => {
    const header = `${HEADER},Split Ratio`;
    const withSplit = (lines: readonly string[], at: number) => lines.map((l, i) => `${l},${i === at ? '0.1' : '1.0'}`);
    const lines = rescaled(walk(6, 0, 100, 50, 2_000_000), 95, 10, 0.5);
    await refused(lines.slice(0, 100), /about ×10,.*and the file declares none/);
    const summary = await importBars(t.store, csv(folder(withSplit(lines, 95), header)), { now: NOW });
    expect([summary.status, summary.byRule.price_unit_change, summary.byRule.extreme_move]).toEqual(['published', undefined, 1]);
    expect((await dumpStore(t.store)).bars).toHaveLength(100);
  });

  it('a one-row update after a 1:10 reverse split its Split Ratio column declares is published, the volume only ÷2; without the declaration on its row it is refused', async () => {
    const header = `${HEADER},Split Ratio`;
    const withSplit = (lines: readonly string[], at: number) => lines.map((l, i) => `${l},${i === at ? '0.1' : '1.0'}`);
    const update = rescaled(walk(7, 100, 201, 50, 2_000_000), 100, 10, 0.5);
    expect((await importBars(t.store, csv(folder(update.slice(0, 100))), { now: NOW })).status).toBe('published');
    await refused(update.slice(100), /about ×10,.*and the file declares none/);
    await refused(withSplit(update.slice(100), -1), /about ×10,/, header);
    const split = await importBars(t.store, csv(folder(withSplit(update.slice(100), 0), header)), { now: NOW });
    expect([split.status, split.byRule.price_unit_change]).toEqual(['published', undefined]);
  });

  it('a penny stock going ×10 on 40 times its volume, settling at 1.5 times after, is published with its flag', async () => {
    const lines = walk(9, 0, 200, 5, 5_000_000).map((l, i) => {
      if (i < 195) return l;
      const f = l.split(',');
      return [f[0], ...f.slice(1, 5).map((x) => String(+(Number(x) * 10).toPrecision(6))), String(Math.round(Number(f[5]) * (i === 195 ? 40 : 1.5)))].join(',');
    });
    const summary = await importBars(t.store, csv(folder(lines)), { now: NOW });
    expect([summary.status, summary.byRule.price_unit_change, summary.byRule.extreme_move]).toEqual(['published', undefined, 1]);
  });

  it('a first import whose first row is in cents is refused whole, naming that row, not the correct rows after it', async () => {
    const lines = walk(8, 0, 100, 50, 2_000_000);
    await refused(rescaled(lines.slice(0, 1), 0, 100).concat(lines.slice(1)), new RegExp(`the first row, of ${DAYS[0]}, looks like prices in cents beside the rows from ${DAYS[1]} on`));
    await refused(rescaled(lines.slice(0, 2), 0, 100).concat(lines.slice(2)), new RegExp(`the first 2 rows, from ${DAYS[0]}, look like prices in cents beside the rows from ${DAYS[2]} on`));
  });
});
