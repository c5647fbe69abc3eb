import type { Database } from '../lib/store/database';
import { lazy } from './lazy';

/** Opens the configured store for one CLI command and always closes it (the drivers load here, on first use). */
export async function withStore<T>(run: (store: Database) => Promise<T>): Promise<T> {
  const { loadConfig } = lazy.config();
  const { openDatabase } = lazy.database();
  const store = await openDatabase(loadConfig().databaseUrl);
  try {
    return await run(store);
  } finally {
    await store.close();
  }
}
