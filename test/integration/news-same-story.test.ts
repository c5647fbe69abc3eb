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
import { Migrator } from 'kysely';
import { parseHeadlinesCsv, type Headline } from '../../lib/news/headlines';
import { normaliseHeadline, stampGapMs } from '../../lib/news/same-story';
import { upsertBars } from '../../lib/store/bars';
import { openDatabase, type Database } from '../../lib/store/database';
import { migrationProvider } from '../../lib/store/migrations';
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

describe.each(DRIVERS)('the same story counted once (%s)', (name, create) => {
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
    expect((await removeHeadline(t.store, ` ${ddd.id.toUpperCase()}`))?.headline).toBe('DDD soars on record guidance');
    expect(await removeHeadline(t.store, ddd.id)).toBeUndefined();
    expect(await staleMarks(t.store)).toEqual({ AAA: null, BBB: null, CCC: null, DDD: '2017-05-11' });
    await materializeFeatures(t.store, NEWS);
    expect(await newsSentiment(t.store, 'DDD', '2017-05-11')).toBe(0);
    await expectFullRecomputation(t.store);
  });

  it('a vendor id makes one story of its stamps however far apart, at the latest, with its latest text', async () => {
    t = await create();
    await upsertBars(t.store, BARS);
    const withIds = (rows: string[]) => parseHeadlinesCsv(`date,time,symbol,headline,vendor_id\n${rows.join('\n')}\n`, 'vendor.csv').headlines;
    await saveHeadlines(t.store, withIds(['2017-04-03,10:00,BBB,BBB beats estimates,v-1', '2017-04-03,10:00,BBB,BBB beats estimates,v-2']));
    await saveHeadlines(t.store, withIds(['2017-04-06,17:00,BBB,BBB misses estimates,v-1']));
    expect((await readHeadlines(t.store)).map((h) => [h.published, h.effectiveDate, h.headline])).toEqual([
      ['2017-04-03 10:00', '2017-04-03', 'BBB beats estimates'],
      ['2017-04-06 17:00', '2017-04-07', 'BBB misses estimates'],
    ]);
    // Row numbers under a bare id column are not vendor ids: two stories stay two, matched by text.
    const numbered = (rows: string[]) => parseHeadlinesCsv(`date,time,symbol,headline,id\n${rows.join('\n')}\n`, 'numbered.csv').headlines;
    await saveHeadlines(t.store, numbered(['2017-03-01,15:30,AAA,AAA plunges,1', '2017-01-10,10:00,AAA,AAA beats,2']));
    await saveHeadlines(t.store, numbered(['2017-03-01,16:30,AAA,AAA plunges,7', '2017-05-10,10:00,AAA,AAA wins contract,1']));
    expect((await listHeadlines(t.store, { symbol: 'AAA' })).map((h) => [h.published, h.headline])).toEqual([
      ['2017-05-10 10:00', 'AAA wins contract'],
      ['2017-03-01 16:30', 'AAA plunges'],
      ['2017-01-10 10:00', 'AAA beats'],
    ]);
  });

  it('the late original of a merged story joins it: no row before the close, whatever the import order', async () => {
    t = await create();
    await saveHeadlines(t.store, csv(['2017-03-06,16:30,AAA,AAA plunges after lawsuit', '2017-03-07,15:45,AAA,AAA plunges after lawsuit']));
    await saveHeadlines(t.store, csv(['2017-03-06,15:30,AAA,AAA plunges after lawsuit']));
    expect((await listHeadlines(t.store)).map((h) => [h.firstPublished, h.published, h.effectiveDate])).toEqual([['2017-03-06 15:30', '2017-03-07 15:45', '2017-03-07']]);

    const X1 = '2017-03-06,15:30,BBB,BBB plunges';
    const X2 = '2017-03-07,15:00,BBB,BBB plunges';
    const X3 = '2017-03-07,15:45,BBB,BBB plunges';
    const outcomes: string[] = [];
    for (const files of [[[X1], [X2], [X3]], [[X2, X3], [X1]], [[X3], [X1], [X2]], [[X1, X2, X3]]]) {
      await t.store.db.deleteFrom('news_headlines').execute();
      for (const f of files) await saveHeadlines(t.store, csv(f));
      outcomes.push(JSON.stringify((await listHeadlines(t.store)).map((h) => [h.firstPublished, h.published, h.effectiveDate])));
    }
    expect(new Set(outcomes)).toEqual(new Set([JSON.stringify([['2017-03-06 15:30', '2017-03-07 15:45', '2017-03-07']])]));
  });

  it('any order of the same files: no stored row counts before another copy of its story within 24 hours of it', async () => {
    t = await create();
    let s = 29;
    const rand = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
    const pad = (n: number) => String(n).padStart(2, '0');
    // Copies of a few stories within 40 hours around the close of 2017-03-06..07, some without a time.
    const stamp = (): string => {
      const minutes = 8 * 60 + Math.floor(rand() * 40 * 4) * 15;
      const day = 6 + Math.floor(minutes / 1440);
      const m = minutes % 1440;
      return rand() < 0.15 ? `2017-03-0${day},` : `2017-03-0${day},${pad(Math.floor(m / 60))}:${pad(m % 60)}`;
    };
    const copies = ['AAA,AAA plunges', 'AAA,AAA soars', ',Stocks slide'].flatMap((story) => Array.from({ length: 4 }, () => `${stamp()},${story}`));
    const all: Headline[] = csv(copies);
    const files = [copies.slice(0, 3), copies.slice(3, 5), copies.slice(5, 9), copies.slice(9)];
    const outcomes = new Set<string>();
    for (let trial = 0; trial < 12; trial++) {
      const order = files.map((f) => [rand(), f] as const).sort((a, b) => a[0] - b[0]).map(([, f]) => [...f].sort(() => rand() - 0.5));
      await t.store.db.deleteFrom('news_headlines').execute();
      for (const f of order) await saveHeadlines(t.store, csv(f));
      const stored = await listHeadlines(t.store, { limit: 1000 });
      for (const row of stored) {
        const sameStory = all.filter((c) => c.symbol === row.symbol && normaliseHeadline(c.headline) === normaliseHeadline(row.headline));
        const leaks = sameStory.filter((c) => stampGapMs(c.published, row.published) < 24 * 3600_000 && c.effectiveDate > row.effectiveDate);
        expect({ row: row.published, leaks: leaks.map((c) => c.published) }).toEqual({ row: row.published, leaks: [] });
      }
      outcomes.add(JSON.stringify(stored.map((h) => [h.symbol, h.firstPublished, h.published, h.effectiveDate]).sort()));
    }
    expect(outcomes.size).toBe(1);
  });

  // SQLite takes its write lock at BEGIN IMMEDIATE, so imports already run one after the other (two
  // connections in one process only wait for each other there); MariaDB reads under REPEATABLE READ.
  (name === 'mysql' ? it : it.skip)('two imports of the same story at the same time store it once', async () => {
    t = await create();
    const other = await openDatabase(t.url);
    try {
      for (let round = 0; round < 4; round++) {
        await t.store.db.deleteFrom('news_headlines').execute();
        const text = `AAA plunges round ${round}`;
        await Promise.all([saveHeadlines(t.store, csv([`2017-03-01,15:30,AAA,${text}`])), saveHeadlines(other, csv([`2017-03-01,16:30,AAA,${text}`]))]);
        expect((await listHeadlines(t.store)).map((h) => [h.firstPublished, h.published])).toEqual([['2017-03-01 15:30', '2017-03-01 16:30']]);
      }
    } finally {
      await other.close();
    }
  });

  it('the migration keys and merges the rows stored before stories were kept, so the first import is not slowed by them', async () => {
    t = await create();
    const migrator = new Migrator({ db: t.store.db, provider: migrationProvider });
    const down = await migrator.migrateTo('0031_serving_record_signatures');
    expect(down.error).toBeUndefined();
    const legacy = csv(['2017-05-10,15:30,DDD,DDD soars on record guidance', '2017-05-10,16:30,DDD,DDD soars on record guidance', '2017-05-11,10:00,AAA,AAA upgraded']);
    await (t.store.db as unknown as import('kysely').Kysely<Record<string, Record<string, unknown>>>)
      .insertInto('news_headlines')
      .values(legacy.map((h) => ({ id: h.id, published: h.published, effective_date: h.effectiveDate, symbol: h.symbol, headline: h.headline, score: h.score })))
      .execute();
    const up = await migrator.migrateToLatest();
    expect(up.error).toBeUndefined();
    const rows = await t.store.db.selectFrom('news_headlines').select(['symbol', 'published', 'first_published', 'story']).orderBy('symbol').execute();
    expect(rows.map((r) => [r.symbol, r.first_published, r.published, r.story?.length])).toEqual([
      ['AAA', '2017-05-11 10:00', '2017-05-11 10:00', 40],
      ['DDD', '2017-05-10 15:30', '2017-05-10 16:30', 40],
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
