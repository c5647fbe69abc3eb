import type { Kysely } from 'kysely';
import type { Headline } from '../news/headlines';
import type { Database } from './database';
import type { DatabaseSchema } from './schema';

/** Where stored news changed: the symbol (null: market-wide news) and the earliest effective date affected. */
export interface NewsChange {
  symbol: string | null;
  date: string;
}

/**
 * Stores scored headlines. The same headline imported again is kept once, with the effective date
 * computed now: a corrected calendar (the early closes) moves it. Feature rows that a new or moved
 * headline changes are marked stale (markNewsFeaturesStale), so the next materialisation recomputes them.
 */
export async function saveHeadlines(store: Database, headlines: readonly Headline[]): Promise<void> {
  await store.db.transaction().execute(async (tx) => {
    const changes: NewsChange[] = [];
    for (let i = 0; i < headlines.length; i += 500) {
      const rows = headlines.slice(i, i + 500).map((h) => ({ id: h.id, published: h.published, effective_date: h.effectiveDate, symbol: h.symbol, headline: h.headline, score: h.score }));
      const stored = new Map((await tx.selectFrom('news_headlines').select(['id', 'effective_date']).where('id', 'in', rows.map((r) => r.id)).execute()).map((r) => [r.id, r.effective_date]));
      const fresh = rows.filter((r) => !stored.has(r.id));
      if (fresh.length > 0) await tx.insertInto('news_headlines').ignore().values(fresh).execute();
      for (const r of fresh) changes.push({ symbol: r.symbol, date: r.effective_date });
      for (const r of rows) {
        const before = stored.get(r.id);
        if (before === undefined || before === r.effective_date) continue;
        await tx.updateTable('news_headlines').set({ effective_date: r.effective_date }).where('id', '=', r.id).execute();
        changes.push({ symbol: r.symbol, date: before < r.effective_date ? before : r.effective_date });
      }
    }
    await markNewsFeaturesStale(tx, changes);
  });
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
