import { Command } from 'commander';
import type { WorkflowHandle } from '@temporalio/client';
import type { PipelineStatus, TrainingPipelineResult } from '../../workflows';
import { escapeControl } from '../../lib/quality/excerpt';
import { printableJson } from '../../lib/printable-json';
import { connectClient, webUiLink } from '../temporal-client';
import { lazy } from '../lazy';
import { parseNumberFlag } from '../number-flag';
import { describeCandidates } from './run-pipeline';

export function runsCommand(): Command {
  const cmd = new Command('runs').description('pipeline runs, from Temporal');
  cmd
    .command('list')
    .description('most recent trainingPipeline runs first')
    .option('--limit <n>', 'how many', '20')
    .action(async (opts: { limit: string }) => {
      const limit = parseNumberFlag('--limit', opts.limit, { int: true, min: 1, max: 1000 });
      const config = lazy.config().loadConfig();
      const client = await connectClient(config);
      try {
        let n = 0;
        for await (const run of client.workflow.list({ query: `WorkflowType = 'trainingPipeline'` })) {
          console.log(escapeControl(`${run.workflowId.padEnd(44)} ${run.status.name.padEnd(11)} started ${run.startTime.toISOString()}${run.closeTime ? `  closed ${run.closeTime.toISOString()}` : ''}`));
          if (++n >= limit) break;
        }
      } finally {
        await client.connection.close();
      }
    });
  cmd
    .command('show <workflowId>')
    .description('a run: status, the experiment it ran, candidates and what was registered')
    .option('--json', 'the whole result as JSON')
    .action(async (workflowId: string, opts: { json?: boolean }) => {
      const config = lazy.config().loadConfig();
      const client = await connectClient(config);
      try {
        const handle = client.workflow.getHandle(workflowId);
        const d = await handle.describe();
        const summary = `${workflowId}: ${d.status.name} (started ${d.startTime.toISOString()}${d.closeTime ? `, closed ${d.closeTime.toISOString()}` : ''})\n  Web UI: ${webUiLink(config, workflowId, d.runId)}`;
        // With --json, stdout carries only JSON: the summary goes to stderr.
        if (opts.json) console.error(summary);
        else console.log(summary);
        if (d.status.name !== 'COMPLETED') {
          // A run that did not complete says why (its failure) and how far it got (its stages).
          const stages = await stagesOf(handle);
          const failure = d.status.name === 'RUNNING' ? undefined : await failureOf(handle);
          if (opts.json) return console.log(printableJson({ workflowId, runId: d.runId, status: d.status.name, startTime: d.startTime, closeTime: d.closeTime ?? null, webUi: webUiLink(config, workflowId, d.runId), ...(failure && { failure }), ...(stages && { stages: stages.stages }) }));
          // Stage details and failures can quote stored text (a file's rows, a reason): escaped.
          for (const stage of stages?.stages ?? []) if (stage.status !== 'pending') console.log(escapeControl(`  ${stage.name}: ${stage.status}${stage.detail ? ` (${stage.detail})` : ''}`));
          if (failure) console.log(escapeControl(`  ${d.status.name.toLowerCase()}: ${failure}`));
          return;
        }
        const result = (await handle.result()) as TrainingPipelineResult;
        if (opts.json) return console.log(printableJson(result));
        if (result.skipped) return console.log(`  ${escapeControl(result.skipped.reason)}`);
        console.log(`  snapshot ${result.snapshotId}; features ${result.features?.version ?? '-'}`);
        if (result.experiment) console.log(escapeControl(`  experiment ${result.experiment.name} (seed ${result.experiment.seed}): ${result.experiment.algorithms.map((a) => a.algorithm).join(', ')}`));
        if (result.candidates) process.stdout.write(describeCandidates(result));
      } finally {
        await client.connection.close();
      }
    });
  return cmd;
}

/** The run's stages, if a worker answers the query (a closed run is replayed to answer it); else none. */
async function stagesOf(handle: WorkflowHandle): Promise<PipelineStatus | undefined> {
  try {
    return await Promise.race([handle.query(lazy.workflows().pipelineStatusQuery), new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 5_000).unref())]);
  } catch {
    return undefined;
  }
}

/** Why a closed run did not complete: its failure's causes, outermost first. */
export async function failureOf(handle: Pick<WorkflowHandle, 'result'>): Promise<string | undefined> {
  try {
    await handle.result();
    return undefined;
  } catch (error) {
    const messages: string[] = [];
    // The SDK is loaded only here: the CLI starts without it (client/lazy.ts).
    for (let e: unknown = error instanceof lazy.temporalClient().WorkflowFailedError ? error.cause : error; e instanceof Error && messages.length < 4; e = e.cause) if (e.message && !messages.includes(e.message)) messages.push(e.message);
    return messages.join(': ') || String(error);
  }
}
