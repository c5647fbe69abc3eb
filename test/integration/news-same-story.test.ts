/**
 * The same story seen again is one headline, counted once at the latest stamp seen: a vendor
 * re-sending a headline with a corrected time (15:30 → 16:30, after the close) moves it to the next
 * day instead of adding a second row that still counted on the earlier one (a look-ahead leak), and
 * the feature rows of both days are recomputed. Rows stored before the rule are merged by the next
 * import; a headline removed by hand takes its count out of the rows it reached.
 */
import { nyseTradingDaysBetween } from '../../lib/calendar/nyse';
import { defineFeatureSet } from '../../lib/features/feature-set';
import { computeFromInputs, loadFeatureInputs, materializeFeatures } from '../../lib/features/materialize';
import { labelSpecSchema } from '../../lib/labels/labels';
import type { Bar } from '../../lib/market-data/bar';
import { parseHeadlinesCsv } from '../../lib/news/headlines';
import { upsertBars } from '../../lib/store/bars';
import type { Database } from '../../lib/store/database';
import { readFeatureProgress, readFeatureRows } from '../../lib/store/features';
import { listHeadlines, readHeadlines, removeHeadline, saveHeadlines } from '../../lib/store/news';
import { buildTrainingDataset } from '../../lib/training/dataset';
import { DRIVERS, type TestDatabase } from '../helpers/databases';

const DAYS = nyseTradingDaysBetween('2017-01-03', '2017-12-29');
const SYMBOLS = ['AAA', 'BBB', 'CCC', 'DDD'];
let seed = 11;
const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
const gauss = () => Math.sqrt(-2 * Math.log(rnd() + 1e-12)) * Math.cos(2 * Math.PI * rnd());
const BARS: Bar[] = SYMBOLS.flatMap((symbol) => {
  let c = 50;
  return DAYS.map((date) => {
    const open = c * Math.exp(0.005 * gauss());
    const close = open * Math.exp(0.01 * gauss());
    c = close;
    return { symbol, date, open, high: Math.max(open, close) * 1.002, low: Math.min(open, close) * 0.998, close, volume: 1e6 };
  });
});
const NEWS = defineFeatureSet({ name: 'news-same-story', features: [{ kind: 'return', horizon: 1 }, { kind: 'news_sentiment', window: 1 }] });

const csv = (rows: string[]) => parseHeadlinesCsv(`date,time,symbol,headline\n${rows.join('\n')}\n`, 'news.csv').headlines;

async function newsSentiment(store: Database, symbol: string, date: string): Promise<number> {
  const [row] = await readFeatureRows(store, NEWS.version, { symbols: [symbol], from: date, to: date });
  return row.values[1];
}

async function staleMarks(store: Database): Promise<Record<string, string | null>> {
  return Object.fromEntries([...(await readFeatureProgress(store, NEWS.version))].map(([symbol, p]) => [symbol, p.staleFrom]));
}

/** The stored rows equal those of a computation from scratch over what the store holds now. */
async function expectFullRecomputation(store: Database): Promise<void> {
  const computed = await computeFromInputs(NEWS, await loadFeatureInputs(store, NEWS));
  const stored = await readFeatureRows(store, NEWS.version);
  const fresh = computed.frames.flatMap((f) => f.dates.map((date, r) => ({ symbol: f.symbol, date, values: f.columns.map((c) => c[r]) })));
  expect(stored.map((r) => ({ symbol: r.symbol, date: r.date, values: Array.from(r.values) }))).toEqual(fresh);
}

function auc(score: number[], y: number[]): number {
  const idx = score.map((s, i) => [s, y[i]] as const).sort((a, b) => a[0] - b[0]);
  let sumPos = 0;
  let pos = 0;
  for (let i = 0; i < idx.length; ) {
    let j = i;
    while (j < idx.length && idx[j][0] === idx[i][0]) j++;
    for (let k = i; k < j; k++) {
      if (idx[k][1] !== 1) continue;
      sumPos += (i + j + 1) / 2;
      pos++;
    }
    i = j;
  }
  return (sumPos - (pos * (pos + 1)) / 2) / (pos * (idx.length - pos));
}

/** AUC of the news_sentiment column against the direction label of its row (no fitting). */
async function newsAuc(store: Database): Promise<number> {
  const ds = await buildTrainingDataset(store, { featureSetVersion: NEWS.version, label: labelSpecSchema.parse({ kind: 'direction', horizon: 1 }) });
  const col = ds.columns.indexOf('news_sentiment_1');
  const s: number[] = [];
  const y: number[] = [];
  for (let r = 0; r < ds.rows; r++) {
    s.push(ds.values[r * ds.columns.length + col]);
    y.push(ds.labels[r]);
  }
  return auc(s, y);
}

describe.each(DRIVERS)('the same story counted once (%s)', (_name, create) => {
  let t: TestDatabase | undefined;
  afterEach(async () => {
    await t?.drop();
    t = undefined;
  });

  it('a re-sent later stamp replaces the earlier one, and the rows of both days are recomputed', async () => {
    t = await create();
    await upsertBars(t.store, BARS);
    await saveHeadlines(t.store, csv(['2017-03-01,15:30,AAA,AAA plunges after lawsuit and downgrade', '2017-03-01,10:00,BBB,BBB beats estimates']));
    await materializeFeatures(t.store, NEWS);
    expect(await newsSentiment(t.store, 'AAA', '2017-03-01')).toBeLessThan(0);

    // The vendor corrects the time: 16:30, after the close.
    await saveHeadlines(t.store, csv(['2017-03-01,16:30,AAA,AAA plunges after lawsuit and downgrade']));
    const stored = await readHeadlines(t.store);
    expect(stored.map((h) => [h.symbol, h.published, h.effectiveDate])).toEqual([
      ['BBB', '2017-03-01 10:00', '2017-03-01'],
      ['AAA', '2017-03-01 16:30', '2017-03-02'],
    ]);
    expect(await staleMarks(t.store)).toEqual({ AAA: '2017-03-01', BBB: null, CCC: null, DDD: null });
    const report = await materializeFeatures(t.store, NEWS);
    expect(report.recomputedFrom).toBe('2017-03-01');
    expect(await newsSentiment(t.store, 'AAA', '2017-03-01')).toBe(0);
    expect(await newsSentiment(t.store, 'AAA', '2017-03-02')).toBeLessThan(0);
    await expectFullRecomputation(t.store);

    // The wrong feed imported again changes nothing: the latest stamp stays, nothing is marked.
    await saveHeadlines(t.store, csv(['2017-03-01,15:30,AAA,AAA plunges after lawsuit and downgrade']));
    expect((await readHeadlines(t.store)).map((h) => h.published)).toEqual(['2017-03-01 10:00', '2017-03-01 16:30']);
    expect(await staleMarks(t.store)).toEqual({ AAA: null, BBB: null, CCC: null, DDD: null });
    expect((await listHeadlines(t.store, { symbol: 'AAA' })).map((h) => [h.firstPublished, h.published])).toEqual([['2017-03-01 15:30', '2017-03-01 16:30']]);
  });

  it('wire repeats and a feed without the time count once; a story a day later by 24 hours or more is another one', async () => {
    t = await create();
    await upsertBars(t.store, BARS);
    await saveHeadlines(
      t.store,
      csv([
        '2017-03-01,11:00,CCC,CCC recall widens',
        '2017-03-01,11:02,CCC,"CCC recall widens."',
        '2017-03-01,,CCC,ccc  RECALL widens',
        '2017-03-01,11:00,,Stocks plunge on rate fears',
        '2017-03-02,11:00,,Stocks plunge on rate fears',
      ]),
    );
    const stored = (await readHeadlines(t.store)).map((h) => [h.symbol ?? '', h.published, h.effectiveDate]);
    expect(stored.sort((a, b) => (a.join() < b.join() ? -1 : 1))).toEqual([
      ['', '2017-03-01 11:00', '2017-03-01'],
      ['', '2017-03-02 11:00', '2017-03-02'],
      ['CCC', '2017-03-01', '2017-03-02'],
    ]);
  });

  it('rows stored before the rule are merged by the next import, and a removed headline leaves the rows it reached', async () => {
    t = await create();
    await upsertBars(t.store, BARS);
    // Two copies of one story as imports stored them before (no story key).
    const copies = csv(['2017-05-10,15:30,DDD,DDD soars on record guidance', '2017-05-10,16:30,DDD,DDD soars on record guidance']);
    await t.store.db
      .insertInto('news_headlines')
      .values(copies.map((h) => ({ id: h.id, published: h.published, effective_date: h.effectiveDate, symbol: h.symbol, headline: h.headline, score: h.score })))
      .execute();
    await materializeFeatures(t.store, NEWS);
    expect(await newsSentiment(t.store, 'DDD', '2017-05-10')).toBeGreaterThan(0);

    await saveHeadlines(t.store, csv(['2017-06-01,10:00,AAA,AAA upgraded']));
    expect((await readHeadlines(t.store)).map((h) => [h.symbol, h.published])).toEqual([
      ['DDD', '2017-05-10 16:30'],
      ['AAA', '2017-06-01 10:00'],
    ]);
    expect(await staleMarks(t.store)).toEqual({ AAA: '2017-06-01', BBB: null, CCC: null, DDD: '2017-05-10' });
    await materializeFeatures(t.store, NEWS);
    expect(await newsSentiment(t.store, 'DDD', '2017-05-10')).toBe(0);
    await expectFullRecomputation(t.store);

    const [ddd] = await listHeadlines(t.store, { symbol: 'DDD' });
    expect((await removeHeadline(t.store, ddd.id))?.headline).toBe('DDD soars on record guidance');
    expect(await removeHeadline(t.store, ddd.id)).toBeUndefined();
    expect(await staleMarks(t.store)).toEqual({ AAA: null, BBB: null, CCC: null, DDD: '2017-05-11' });
    await materializeFeatures(t.store, NEWS);
    expect(await newsSentiment(t.store, 'DDD', '2017-05-11')).toBe(0);
    await expectFullRecomputation(t.store);
  });

  it('a vendor id makes one story of its stamps however far apart, at the latest, with its latest text', async () => {
    t = await create();
    await upsertBars(t.store, BARS);
    const withIds = (rows: string[]) => parseHeadlinesCsv(`date,time,symbol,headline,id\n${rows.join('\n')}\n`, 'vendor.csv').headlines;
    await saveHeadlines(t.store, withIds(['2017-04-03,10:00,BBB,BBB beats estimates,v-1', '2017-04-03,10:00,BBB,BBB beats estimates,v-2']));
    await saveHeadlines(t.store, withIds(['2017-04-06,17:00,BBB,BBB misses estimates,v-1']));
    expect((await readHeadlines(t.store)).map((h) => [h.published, h.effectiveDate, h.headline])).toEqual([
      ['2017-04-03 10:00', '2017-04-03', 'BBB beats estimates'],
      ['2017-04-06 17:00', '2017-04-07', 'BBB misses estimates'],
    ]);
  });

  it('oracle headlines first mis-stamped 15:30 then corrected to 16:30: the feature is as honest as the corrected feed alone', async () => {
    t = await create();
    await upsertBars(t.store, BARS);
    await materializeFeatures(t.store, NEWS); // the rows exist before the news arrives, as in production
    // Tone = the sign of the next day's open-to-close move: the label of day i's row.
    const bar = new Map(BARS.map((b) => [`${b.symbol} ${b.date}`, b]));
    const oracle = (time: string) =>
      csv(
        SYMBOLS.flatMap((s) =>
          DAYS.slice(0, -1).map((d, i) => {
            const next = bar.get(`${s} ${DAYS[i + 1]}`) as Bar;
            return `${d},${time},${s},${next.close > next.open ? `${s} beats estimates and shares surge ${d}` : `${s} misses and shares plunge ${d}`}`;
          }),
        ),
      );
    await saveHeadlines(t.store, oracle('15:30'));
    await materializeFeatures(t.store, NEWS);
    expect(await newsAuc(t.store)).toBeGreaterThan(0.95); // the path carries the leak while the stamp says 15:30

    await saveHeadlines(t.store, oracle('16:30'));
    expect(await readHeadlines(t.store)).toHaveLength(SYMBOLS.length * (DAYS.length - 1));
    await materializeFeatures(t.store, NEWS);
    const corrected = await newsAuc(t.store);
    expect(Math.abs(corrected - 0.5)).toBeLessThan(0.05);
    await expectFullRecomputation(t.store);
  });
});
