import { sql, type Kysely, type Selectable } from 'kysely';
import { effectiveTradingDay, type Headline } from '../news/headlines';
import { earliestStamp, groupSameStories, latestSighting, storyKey, type StorySighting } from '../news/same-story';
import { StoreBusyError, type Database } from './database';
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
const LEGACY_ROWS_PER_UPDATE = 1000;
/** How long an import waits for another one's news write on MySQL before giving up. */
const NEWS_LOCK_WAIT_S = 120;

/**
 * Stores scored headlines, each story once (lib/news/same-story.ts): a headline of the same story
 * as a stored row (or as another of this import) is merged into it, at the latest stamp seen, with
 * that stamp's text and score; the effective date is computed now from that stamp (so a corrected
 * calendar, the early closes, moves it too). Feature rows that an added, moved, rescored or
 * merged-away headline changes are marked stale (markNewsFeaturesStale), from the earlier of its
 * dates, so the next materialisation recomputes both days.
 *
 * Imports write news one at a time: each reads the stored rows of its stories and decides from them,
 * and nothing unique holds one row per story (a story's rows a day apart are legitimately two). SQLite
 * serialises writers at BEGIN IMMEDIATE; on MySQL a named lock per database (GET_LOCK) is held around
 * the transaction, since REPEATABLE READ let two imports each see no row and both insert one.
 */
export async function saveHeadlines(store: Database, headlines: readonly Headline[]): Promise<void> {
  // Rows stored before stories were kept are keyed by migration 0033; any left (a process of before
  // writing after it) are keyed here, in batches outside the import's transaction.
  const legacy = await keyLegacyHeadlines(store.db);
  if (store.driver !== 'mysql') {
    await store.db.transaction().execute((tx) => writeHeadlines(tx, headlines, legacy));
    return;
  }
  await store.db.connection().execute(async (conn) => {
    const lock = sql<{ got: number | null }>`SELECT GET_LOCK(CONCAT('mlp_news:', DATABASE()), ${NEWS_LOCK_WAIT_S}) AS got`;
    const got = (await lock.execute(conn)).rows[0]?.got;
    if (Number(got) !== 1) throw new StoreBusyError(`another news import held the store's news lock for ${NEWS_LOCK_WAIT_S} s; nothing was written`);
    try {
      await conn.transaction().execute((tx) => writeHeadlines(tx, headlines, legacy));
    } finally {
      await sql`SELECT RELEASE_LOCK(CONCAT('mlp_news:', DATABASE()))`.execute(conn);
    }
  });
}

async function writeHeadlines(tx: Tx, headlines: readonly Headline[], legacy: readonly string[]): Promise<void> {
  const stories = new Set(legacy);
  const incoming = new Map<string, Sighting[]>();
  for (const h of headlines) {
    const story = storyKey(h.symbol, h.headline, h.vendorId);
    stories.add(story);
    const list = incoming.get(story) ?? [];
    list.push({ story, byVendorId: h.vendorId !== undefined, first: h.published, last: h.published, incoming: h });
    incoming.set(story, list);
  }
  const changes = await mergeStories(tx, [...stories], incoming);
  await markNewsFeaturesStale(tx, changes);
}

/** Groups the stored rows of these stories with the incoming sightings and writes each story; the changes. */
async function mergeStories(tx: Tx, keys: readonly string[], incoming: ReadonlyMap<string, Sighting[]> = new Map()): Promise<NewsChange[]> {
  const changes: NewsChange[] = [];
  for (let i = 0; i < keys.length; i += STORIES_PER_QUERY) {
    const chunk = keys.slice(i, i + STORIES_PER_QUERY);
    const stored = (await tx.selectFrom('news_headlines').selectAll().where('story', 'in', chunk).execute()).map(storedSighting);
    // Stored rows first: of equal stamps the import's is the latest (a vendor's corrected text).
    const groups = groupSameStories([...stored, ...chunk.flatMap((k) => incoming.get(k) ?? [])]);
    for (const group of groups) await writeStory(tx, group, changes);
  }
  return changes;
}

/**
 * Keys the rows stored before stories were kept (story null; first_published = their stamp), a
 * thousand per UPDATE: one UPDATE a row inside the import's transaction took 90 s for 200,000 rows on
 * SQLite (the write lock held throughout) and 208 s on MySQL. Idempotent, so two processes keying at
 * once agree. Returns the stories that now hold more than one row, for mergeLegacyStories (or the
 * import) to merge under the lock; nothing, at the cost of one indexed lookup, when no row is unkeyed.
 */
export async function keyLegacyHeadlines(db: Kysely<DatabaseSchema>): Promise<string[]> {
  const any = await db.selectFrom('news_headlines').select('id').where('story', 'is', null).limit(1).executeTakeFirst();
  if (any === undefined) return [];
  // Paged by id (the primary key), the keyed rows skipped here: filtering on `story is null` made
  // SQLite walk the story index's null entries for every page and every UPDATE (47 s for 200,000).
  let keyed = 0;
  for (let after = ''; ; ) {
    const page = await db.selectFrom('news_headlines').select(['id', 'symbol', 'headline', 'story']).where('id', '>', after).orderBy('id').limit(LEGACY_ROWS_PER_UPDATE).execute();
    if (page.length === 0) break;
    after = page[page.length - 1].id;
    const rows = page.filter((r) => r.story === null);
    if (rows.length === 0) continue;
    const cases = sql.join(rows.map((r) => sql`WHEN ${r.id} THEN ${storyKey(r.symbol, r.headline)}`), sql` `);
    await db
      .updateTable('news_headlines')
      .set({ story: sql<string>`CASE id ${cases} END`, first_published: sql<string>`published` })
      .where('id', 'in', rows.map((r) => r.id))
      .execute();
    keyed += rows.length;
  }
  if (keyed === 0) return [];
  const dup = await db.selectFrom('news_headlines').select('story').where('story', 'is not', null).groupBy('story').having(sql`COUNT(*)`, '>', 1).execute();
  return dup.flatMap((r) => (r.story === null ? [] : [r.story]));
}

/** Merges the copies among rows keyed by keyLegacyHeadlines (in the caller's transaction) and marks the feature rows they reached stale. */
export async function mergeLegacyStories(db: Kysely<DatabaseSchema>, stories: readonly string[]): Promise<void> {
  await markNewsFeaturesStale(db, await mergeStories(db, stories));
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
export async function removeHeadline(store: Database, given: string): Promise<StoredHeadline | undefined> {
  // Ids are lower-case hex: MySQL's collation matched any case, SQLite only this one; now both do.
  const id = given.trim().toLowerCase();
  return store.db.transaction().execute(async (tx) => {
    const row = await tx.selectFrom('news_headlines').selectAll().where('id', '=', id).executeTakeFirst();
    if (row === undefined) return undefined;
    await tx.deleteFrom('news_headlines').where('id', '=', id).execute();
    await markNewsFeaturesStale(tx, [{ symbol: row.symbol, date: row.effective_date }]);
    return rowToHeadline(row);
  });
}
