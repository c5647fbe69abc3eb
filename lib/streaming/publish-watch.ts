/**
 * Tells a stream consumer which symbols an import published since it last asked, so that its
 * in-memory windows follow the store. Imports write the bar store directly (lib/store/staging.ts)
 * and announce nothing on the stream: without this a consumer keeps the bars it loaded at start,
 * takes a repeat of a value an import has since revised for a duplicate (and keeps it in its
 * features), and sees gaps where an import filled them in.
 *
 * Publishes are the published rows of `dataset_snapshots`. Their `published_at` is the publishing
 * process's clock when its transaction began, so a long publish commits after later stamps and
 * clocks of two hosts differ: every publish stamped within LOOK_BACK_MS of the newest seen is read
 * again, and each is absorbed once (by id and stamp: a snapshot published again is new).
 */
import type { Database } from '../store/database';

const LOOK_BACK_MS = 60 * 60 * 1000;

export class PublishWatch {
  /** `${id}@${published_at}` of the publishes absorbed, with their stamp in ms. */
  private readonly seen = new Map<string, number>();
  private newest = Number.NEGATIVE_INFINITY;

  /** Takes every publish stored now as absorbed; call before the windows are loaded. */
  async init(store: Database): Promise<void> {
    await this.poll(store);
  }

  /** Symbols of the publishes not absorbed before (sorted, each once); they count as absorbed from now on. */
  async poll(store: Database): Promise<string[]> {
    let q = store.db.selectFrom('dataset_snapshots').select(['id', 'symbols', 'published_at']).where('status', '=', 'published').where('published_at', 'is not', null);
    if (Number.isFinite(this.newest)) q = q.where('published_at', '>=', new Date(this.newest - LOOK_BACK_MS).toISOString());
    const rows = await q.execute();
    const symbols = new Set<string>();
    for (const r of rows) {
      const key = `${r.id}@${r.published_at}`;
      if (this.seen.has(key)) continue;
      const at = Date.parse(r.published_at as string);
      this.seen.set(key, at);
      if (at > this.newest) this.newest = at;
      for (const s of JSON.parse(r.symbols) as string[]) symbols.add(s);
    }
    // Stamps this old are never read again.
    for (const [key, at] of this.seen) if (at < this.newest - LOOK_BACK_MS) this.seen.delete(key);
    return [...symbols].sort();
  }
}
