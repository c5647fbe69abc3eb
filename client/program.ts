/** The `mlp` command tree, built without parsing anything (the CLI entry point and the docs check both use it). */
import { Command } from 'commander';
import { printableJson } from '../lib/printable-json';
import { escapeControl } from '../lib/quality/excerpt';
import { alertsCommand } from './commands/alerts';
import { newsCommand, dataCommand, quarantineCommand, snapshotsCommand } from './commands/data';
import { deployCommand, deploymentsCommand } from './commands/deployments';
import { featuresCommand } from './commands/features';
import { modelsCommand } from './commands/models';
import { runPipelineCommand } from './commands/run-pipeline';
import { reportCommand } from './commands/report';
import { runsCommand } from './commands/runs';
import { schedulesCommand } from './commands/schedules';
import { connectClient, webUiLink } from './temporal-client';
import { lazy } from './lazy';
import { packageVersion } from './repo-root';

/*
 * Parsing and --help load only commander and the command definitions: every module that is slow to
 * load (the Temporal SDK, store drivers, tfjs, …) is imported inside the action that needs it.
 * test/unit/cli-executable.test.ts checks this on the built dist/cli.js.
 */

export function buildProgram(): Command {
  const program = new Command('mlp').description('Temporal ML training pipeline for market data').version(packageVersion()).showHelpAfterError();

  program.addCommand(runPipelineCommand());
  program
    .command('status <workflowId>')
    .description('state of a run and its Web UI link')
    .action(async (workflowId: string) => {
      const { loadConfig } = lazy.config();
      const config = loadConfig();
      const client = await connectClient(config);
      const d = await client.workflow.getHandle(workflowId).describe();
      console.log(`${escapeControl(`${workflowId}: ${d.status.name} (started ${d.startTime.toISOString()}${d.closeTime ? `, closed ${d.closeTime.toISOString()}` : ''})`)}\n  Web UI: ${webUiLink(config, workflowId, d.runId)}`);
      await client.connection.close();
    });
  program.addCommand(runsCommand());
  program.addCommand(reportCommand());
  program.addCommand(modelsCommand());
  program.addCommand(deployCommand());
  program.addCommand(deploymentsCommand());
  program.addCommand(snapshotsCommand());
  program.addCommand(quarantineCommand());
  program.addCommand(dataCommand());
  program.addCommand(featuresCommand());
  program.addCommand(newsCommand());
  program.addCommand(schedulesCommand());
  program.addCommand(alertsCommand());
  program
    .command('config')
    .description('effective configuration and the environment variables behind it')
    .option('--json', 'only the effective configuration, as JSON')
    .action(async (opts: { json?: boolean }) => {
      const { API_RATE_LIMIT_VARIABLES, CONFIG_VARIABLES, loadApiRateLimits, loadConfig, printableConfig } = lazy.config();
      console.log(printableJson({ ...printableConfig(loadConfig()), apiRateLimits: loadApiRateLimits() }));
      if (opts.json) return;
      for (const v of [...CONFIG_VARIABLES, ...API_RATE_LIMIT_VARIABLES]) console.log(`  ${v.name.padEnd(22)} default ${v.default.padEnd(34)} ${v.meaning}`);
    });
  return program;
}
