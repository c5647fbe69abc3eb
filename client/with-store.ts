import { loadConfig } from '../lib/config';
import { openDatabase, type Database } from '../lib/store/database';

/** Opens the configured store for one CLI command and always closes it. */
export async function withStore<T>(run: (store: Database) => Promise<T>): Promise<T> {
  const store = await openDatabase(loadConfig().databaseUrl);
  try {
    return await run(store);
  } finally {
    await store.close();
  }
}
