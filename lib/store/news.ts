import type { Kysely, Selectable } from 'kysely';
import { effectiveTradingDay, type Headline } from '../news/headlines';
import { earliestStamp, groupSameStories, latestSighting, storyKey, type StorySighting } from '../news/same-story';
import type { Database } from './database';
import type { DatabaseSchema, NewsHeadlinesTable } from './schema';

/** Where stored news changed: the symbol (null: market-wide news) and the earliest effective date affected. */
export interface NewsChange {
  symbol: string | null;
  date: string;
}

type Tx = Kysely<DatabaseSchema>;

/** A stored row, or a headline of this import, as a sighting of its story. */
type Sighting = StorySighting & ({ stored: StoredHeadline } | { incoming: Headline });

/** A stored headline with what identifies its story. */
export interface StoredHeadline extends Headline {
  /** The earliest stamp seen of its story (`published` is the latest). */
  firstPublished: string;
  vendorId?: string;
}

const STORIES_PER_QUERY = 500;

/**
 * Stores scored headlines, each story once (lib/news/same-story.ts): a headline of the same story
 * as a stored row (or as another of this import) is merged into it, at the latest stamp seen, with
 * that stamp's text and score; the effective date is computed now from that stamp (so a corrected
 * calendar, the early closes, moves it too). Rows stored before stories were kept are keyed and
 * merged by the same rule on the first import after. Feature rows that an added, moved, rescored or
 * merged-away headline changes are marked stale (markNewsFeaturesStale), from the earlier of its
 * dates, so the next materialisation recomputes both days.
 */
export async function saveHeadlines(store: Database, headlines: readonly Headline[]): Promise<void> {
  await store.db.transaction().execute(async (tx) => {
    const stories = new Set(await keyLegacyRows(tx));
    const incoming = new Map<string, Sighting[]>();
    for (const h of headlines) {
      const story = storyKey(h.symbol, h.headline, h.vendorId);
      stories.add(story);
      const list = incoming.get(story) ?? [];
      list.push({ story, byVendorId: h.vendorId !== undefined, first: h.published, last: h.published, incoming: h });
      incoming.set(story, list);
    }
    const changes: NewsChange[] = [];
    const keys = [...stories];
    for (let i = 0; i < keys.length; i += STORIES_PER_QUERY) {
      const chunk = keys.slice(i, i + STORIES_PER_QUERY);
      const stored = (await tx.selectFrom('news_headlines').selectAll().where('story', 'in', chunk).execute()).map(storedSighting);
      // Stored rows first: of equal stamps the import's is the latest (a vendor's corrected text).
      const groups = groupSameStories([...stored, ...chunk.flatMap((k) => incoming.get(k) ?? [])]);
      for (const group of groups) await writeStory(tx, group, changes);
    }
    await markNewsFeaturesStale(tx, changes);
  });
}

/** Keys the rows stored before stories were kept (first_published = their stamp); their stories. */
async function keyLegacyRows(tx: Tx): Promise<string[]> {
  const rows = await tx.selectFrom('news_headlines').select(['id', 'published', 'symbol', 'headline']).where('story', 'is', null).execute();
  const stories: string[] = [];
  for (const r of rows) {
    const story = storyKey(r.symbol, r.headline);
    stories.push(story);
    await tx.updateTable('news_headlines').set({ story, first_published: r.published }).where('id', '=', r.id).execute();
  }
  return stories;
}

function storedSighting(r: Selectable<NewsHeadlinesTable>): Sighting {
  const h = rowToHeadline(r);
  return { story: r.story ?? storyKey(r.symbol, r.headline, r.vendor_id), byVendorId: r.vendor_id !== null, first: h.firstPublished, last: h.published, stored: h };
}

/** One story: kept in its earliest stored row (or a new one), the other stored rows deleted. */
async function writeStory(tx: Tx, group: readonly Sighting[], changes: NewsChange[]): Promise<void> {
  const latest = latestSighting(group);
  const text = 'incoming' in latest ? latest.incoming : latest.stored;
  const first = earliestStamp(group);
  const target = {
    published: latest.last,
    first_published: first,
    effective_date: effectiveTradingDay(latest.last.slice(0, 10), latest.last.length > 10 ? latest.last.slice(11) : undefined),
    headline: text.headline,
    score: text.score,
    vendor_id: text.vendorId ?? null,
  };
  const symbol = text.symbol;
  const stored = group.flatMap((s) => ('stored' in s ? [s.stored] : []));
  const [keeper, ...merged] = stored;
  for (const m of merged) {
    await tx.deleteFrom('news_headlines').where('id', '=', m.id).execute();
    changes.push({ symbol: m.symbol, date: m.effectiveDate });
  }
  if (keeper === undefined) {
    const firstIncoming = group.find((s) => 'incoming' in s && s.first === first) ?? group[0];
    const id = 'incoming' in firstIncoming ? firstIncoming.incoming.id : firstIncoming.stored.id;
    await tx.insertInto('news_headlines').values({ id, symbol, story: group[0].story, ...target }).execute();
    changes.push({ symbol, date: target.effective_date });
    return;
  }
  const same =
    keeper.published === target.published &&
    keeper.firstPublished === target.first_published &&
    keeper.effectiveDate === target.effective_date &&
    keeper.headline === target.headline &&
    keeper.score === target.score &&
    (keeper.vendorId ?? null) === target.vendor_id;
  if (same) return;
  await tx.updateTable('news_headlines').set(target).where('id', '=', keeper.id).execute();
  if (keeper.effectiveDate !== target.effective_date || keeper.score !== target.score) {
    changes.push({ symbol, date: keeper.effectiveDate < target.effective_date ? keeper.effectiveDate : target.effective_date });
  }
}

function rowToHeadline(r: Selectable<NewsHeadlinesTable>): StoredHeadline {
  return {
    id: r.id,
    published: r.published,
    firstPublished: r.first_published ?? r.published,
    effectiveDate: r.effective_date,
    symbol: r.symbol,
    headline: r.headline,
    score: Number(r.score),
    ...(r.vendor_id === null ? {} : { vendorId: r.vendor_id }),
  };
}

function usesNews(definition: string): boolean {
  const parsed = JSON.parse(definition) as { features?: Array<{ kind?: unknown }> };
  return parsed.features?.some((f) => f.kind === 'news_sentiment') === true;
}

/**
 * Marks the stored rows of every feature set with news features stale from each change's date on
 * (feature_progress.stale_from, which the materialiser recomputes from and then clears): for the
 * change's symbol, or for every symbol when the news is market-wide. A mark only ever moves earlier.
 * Series without a progress row (rows stored before progress was kept) are not marked.
 */
export async function markNewsFeaturesStale(db: Kysely<DatabaseSchema>, changes: readonly NewsChange[]): Promise<void> {
  if (changes.length === 0) return;
  const versions = (await db.selectFrom('feature_sets').select(['version', 'definition']).execute()).filter((r) => usesNews(r.definition)).map((r) => r.version);
  if (versions.length === 0) return;
  const earliest = new Map<string | null, string>();
  for (const c of changes) {
    const known = earliest.get(c.symbol);
    if (known === undefined || c.date < known) earliest.set(c.symbol, c.date);
  }
  const market = earliest.get(null);
  const now = new Date().toISOString();
  for (const [symbol, date] of earliest) {
    if (symbol !== null && market !== undefined && market <= date) continue; // the market-wide mark covers it
    let update = db
      .updateTable('feature_progress')
      .set({ stale_from: date, updated_at: now })
      .where('version', 'in', versions)
      .where((eb) => eb.or([eb('stale_from', 'is', null), eb('stale_from', '>', date)]));
    if (symbol !== null) update = update.where('symbol', '=', symbol);
    await update.execute();
  }
}

/** Headlines effective on or before `to` (point in time), oldest first. */
export async function readHeadlines(store: Database, to?: string): Promise<Headline[]> {
  let q = store.db.selectFrom('news_headlines').selectAll();
  if (to) q = q.where('effective_date', '<=', to);
  const rows = await q.orderBy('effective_date').orderBy('id').execute();
  return rows.map((r) => ({ id: r.id, published: r.published, effectiveDate: r.effective_date, symbol: r.symbol, headline: r.headline, score: Number(r.score) }));
}

/** Stored headlines, newest effective date first: for `mlp news list`. */
export async function listHeadlines(store: Database, filter: { symbol?: string | null; from?: string; to?: string; limit?: number } = {}): Promise<StoredHeadline[]> {
  let q = store.db.selectFrom('news_headlines').selectAll();
  if (filter.symbol === null) q = q.where('symbol', 'is', null);
  else if (filter.symbol !== undefined) q = q.where('symbol', '=', filter.symbol);
  if (filter.from) q = q.where('effective_date', '>=', filter.from);
  if (filter.to) q = q.where('effective_date', '<=', filter.to);
  const rows = await q.orderBy('effective_date', 'desc').orderBy('id').limit(filter.limit ?? 100).execute();
  return rows.map(rowToHeadline);
}

/**
 * Removes one stored headline (a story the vendor withdrew, or a stamp wrong by more than the
 * same-story window, to import again) and marks the feature rows it reached stale. An import of a
 * file that still holds it stores it again. Undefined when there is no such headline.
 */
export async function removeHeadline(store: Database, id: string): Promise<StoredHeadline | undefined> {
  return store.db.transaction().execute(async (tx) => {
    const row = await tx.selectFrom('news_headlines').selectAll().where('id', '=', id).executeTakeFirst();
    if (row === undefined) return undefined;
    await tx.deleteFrom('news_headlines').where('id', '=', id).execute();
    await markNewsFeaturesStale(tx, [{ symbol: row.symbol, date: row.effective_date }]);
    return rowToHeadline(row);
  });
}
