import type { Database } from '../../lib/store/database';

/** Every row the pipeline writes, in a stable order: equal dumps mean an identical store. */
export async function dumpStore(store: Database): Promise<{ bars: unknown[]; quarantine: unknown[]; snapshots: unknown[] }> {
  const [bars, quarantine, snapshots] = await Promise.all([
    store.db.selectFrom('bars').selectAll().orderBy('symbol').orderBy('date').execute(),
    store.db.selectFrom('quarantine').selectAll().orderBy('issue_key').execute(),
    store.db.selectFrom('dataset_snapshots').selectAll().orderBy('id').execute(),
  ]);
  return { bars, quarantine, snapshots };
}
