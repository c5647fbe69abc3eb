/**
 * tsx scripts/temporal-server.ts install|start|stop
 *   install: find the temporal CLI (TEMPORAL_CLI_PATH, PATH, the per-user cache, ~/go/bin), else build it
 *            with Go, else download it, into the per-user cache that every clone shares:
 *            $MLP_TOOLS_DIR or ${XDG_CACHE_HOME:-~/.cache}/temporal-ml-pipeline/bin/temporal-<version>
 *            (prints its path)
 *   start:   start the dev server under DATA_DIR unless one answers at TEMPORAL_ADDRESS
 *   stop:    stop a dev server this project started
 */
import { Command } from 'commander';
import { loadConfig } from '../lib/config';
import { ensureDevServer, stopDevServer } from '../platform/dev-server';
import { cachedTemporalCliPath, ensureTemporalCli } from '../platform/temporal-cli';

const program = new Command('temporal-server').description('the Temporal dev server this project runs on');
program
  .command('install')
  .description(`find, build or download the temporal CLI and print its path (built once per user into ${cachedTemporalCliPath()})`)
  .action(async () => console.log(await ensureTemporalCli((l) => console.error(l))));
program
  .command('start')
  .description('start the dev server (SQLite under DATA_DIR, Web UI) unless one is running')
  .action(async () => {
    await ensureDevServer(loadConfig());
  });
program
  .command('stop')
  .description('stop the dev server started by "start"')
  .action(() => {
    if (!stopDevServer(loadConfig())) console.log('no dev server started by this project (no pid file)');
  });
program.parseAsync().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
