import type { Headline } from '../news/headlines';
import type { Database } from './database';

/** Stores scored headlines; the same headline imported again is kept once. */
export async function saveHeadlines(store: Database, headlines: readonly Headline[]): Promise<void> {
  await store.db.transaction().execute(async (tx) => {
    for (let i = 0; i < headlines.length; i += 500) {
      const rows = headlines.slice(i, i + 500).map((h) => ({ id: h.id, published: h.published, effective_date: h.effectiveDate, symbol: h.symbol, headline: h.headline, score: h.score }));
      await tx.insertInto('news_headlines').ignore().values(rows).execute();
    }
  });
}

/** Headlines effective on or before `to` (point in time), oldest first. */
export async function readHeadlines(store: Database, to?: string): Promise<Headline[]> {
  let q = store.db.selectFrom('news_headlines').selectAll();
  if (to) q = q.where('effective_date', '<=', to);
  const rows = await q.orderBy('effective_date').orderBy('id').execute();
  return rows.map((r) => ({ id: r.id, published: r.published, effectiveDate: r.effective_date, symbol: r.symbol, headline: r.headline, score: Number(r.score) }));
}
