import type { Database } from '../lib/store/database';
import { lazy } from './lazy';

export interface WithStoreOptions {
  /**
   * Create the store when it does not exist (commands that write what they were given: an import).
   * Otherwise a missing store fails the command, naming the path and DATA_DIR or DATABASE_URL: a
   * relative or mistyped DATA_DIR had read-only commands create a new, empty store and report
   * nothing (exit 0).
   */
  create?: boolean;
}

/** Opens the configured store for one CLI command and always closes it (the drivers load here, on first use). */
export async function withStore<T>(run: (store: Database) => Promise<T>, options: WithStoreOptions = {}): Promise<T> {
  const { configuredSigning, describeStoreSetting, loadConfig } = lazy.config();
  const { openDatabase } = lazy.database();
  const config = loadConfig();
  // With the deployment's key: bars a command writes are signed, and its reads of bars check them.
  const signing = configuredSigning(config);
  const store = await openDatabase(config.databaseUrl, options.create ? { signing } : { existing: { namedBy: describeStoreSetting(config) }, signing });
  try {
    return await run(store);
  } finally {
    await store.close();
  }
}
