import { Command } from 'commander';
import { aliasHistory, getModelVersion, listModelVersions, MODEL_ALIASES, resolveVersion, type ModelVersion } from '../../lib/registry/model-registry';
import { loadConfig } from '../../lib/config';
import { openCache } from '../../lib/cache/open-cache';
import { rollbackModel } from '../../lib/serving/rollback';
import { abortSignal } from '../../workflows';
import { connectClient } from '../temporal-client';
import { withStore } from '../with-store';
import { runningDeployments } from './deployments';

/** The numbers a trader compares first, from a version's stored metrics. */
function headline(v: ModelVersion): Record<string, string> {
  const m = v.metrics as {
    cv?: { auc?: number };
    outOfSample?: {
      period?: { from: string; to: string };
      classification?: { accuracy: number; rocAuc: number };
      baseline?: { name?: string; accuracy: number; accuracyLift?: number; liftInterval?: [number, number]; pValue: number; naivePValue?: number };
      auc?: { versus: string; baselineAuc: number; difference: { value: number; interval: [number, number]; pValue: number } };
      informationCoefficient?: { mean: number; tStat?: number };
      backtest?: { strategy?: { sharpe?: number; maxDrawdown?: number }; buyAndHold?: { sharpe?: number } };
      guards?: Array<{ guard: string; tripped: boolean }>;
    };
  };
  const o = m.outOfSample;
  const f = (x: number | undefined, d = 4) => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(d));
  return {
    'cv auc': f(m.cv?.auc),
    'oos period': o?.period ? `${o.period.from}..${o.period.to}` : '-',
    'oos accuracy': f(o?.classification?.accuracy),
    'baseline accuracy': `${f(o?.baseline?.accuracy)}${o?.baseline?.name ? ` (${o.baseline.name}, the strongest naive baseline)` : ''}`,
    // Versions evaluated before day-aware inference only have the naive (independent rows) p-value.
    'p-value vs baseline': o?.baseline ? `${o.baseline.pValue.toPrecision(2)}${o.baseline.naivePValue === undefined ? ' (naive: assumes independent rows)' : ' (one-sided, day-block clustered)'}` : '-',
    'oos auc': f(o?.classification?.rocAuc),
    'auc vs baseline': o?.auc ? `${o.auc.difference.value >= 0 ? '+' : ''}${f(o.auc.difference.value)} over ${o.auc.versus} ${f(o.auc.baselineAuc)} (95% [${f(o.auc.difference.interval[0])}, ${f(o.auc.difference.interval[1])}], p ${o.auc.difference.pValue.toPrecision(2)})` : '-',
    'guards tripped': o?.guards ? o.guards.filter((g) => g.tripped).map((g) => g.guard).join(', ') || 'none' : '-',
    'information coefficient': f(o?.informationCoefficient?.mean),
    'backtest sharpe': f(o?.backtest?.strategy?.sharpe, 2),
    'buy-and-hold sharpe': f(o?.backtest?.buyAndHold?.sharpe, 2),
    'max drawdown': f(o?.backtest?.strategy?.maxDrawdown, 3),
  };
}

function lineage(v: ModelVersion): Record<string, string> {
  return {
    algorithm: v.algorithm,
    params: JSON.stringify(v.params),
    seed: String(v.seed),
    'feature set': v.featureSetVersion,
    label: JSON.stringify(v.label),
    snapshot: `${v.snapshotId ?? '-'} (${v.snapshotHash?.slice(0, 12) ?? '-'})`,
    code: v.codeVersion,
    run: `${v.workflowId ?? '-'} / ${v.runId ?? '-'}`,
    artifact: `sha256 ${v.artifactSha256} (${v.artifactBytes} bytes)`,
    created: v.createdAt,
  };
}

export function modelsCommand(): Command {
  const cmd = new Command('models').description('the model registry: versions, aliases, lineage');
  cmd
    .command('list [name]')
    .description('registered versions with their headline metrics')
    .action((name: string | undefined) =>
      withStore(async (store) => {
        for (const v of await listModelVersions(store, name)) {
          const h = headline(v);
          console.log(`${v.name} v${v.version}  ${v.algorithm.padEnd(20)} oos acc ${h['oos accuracy']} (baseline ${h['baseline accuracy']}) auc ${h['oos auc']} sharpe ${h['backtest sharpe']}  ${v.createdAt}`);
        }
      }),
    );
  cmd
    .command('show <name> <version>')
    .description(`one version (a number or an alias: ${MODEL_ALIASES.join(', ')}) with metrics and lineage`)
    .option('--json', 'everything stored, as JSON')
    .action((name: string, ref: string, opts: { json?: boolean }) =>
      withStore(async (store) => {
        const v = await getModelVersion(store, name, await resolveVersion(store, name, ref));
        if (opts.json) return console.log(JSON.stringify(v, null, 2));
        for (const [k, value] of Object.entries({ ...lineage(v), ...headline(v) })) console.log(`${k.padEnd(24)} ${value}`);
      }),
    );
  cmd
    .command('diff <name> <a> <b>')
    .description('two versions side by side: parameters, metrics, lineage')
    .action((name: string, a: string, b: string) =>
      withStore(async (store) => {
        const [va, vb] = await Promise.all([a, b].map(async (ref) => getModelVersion(store, name, await resolveVersion(store, name, ref))));
        const left = { ...lineage(va), ...headline(va) };
        const right = { ...lineage(vb), ...headline(vb) };
        console.log(`${''.padEnd(24)} ${`v${va.version}`.padEnd(40)} v${vb.version}`);
        for (const key of Object.keys(left)) {
          const l = left[key];
          const r = right[key];
          console.log(`${l === r ? ' ' : '*'} ${key.padEnd(22)} ${l.slice(0, 39).padEnd(40)} ${r.slice(0, 60)}`);
        }
      }),
    );
  cmd
    .command('history <name>')
    .description('every alias move: from, to, who, why, when')
    .action((name: string) =>
      withStore(async (store) => {
        for (const h of await aliasHistory(store, name)) console.log(`${h.movedAt}  ${h.alias.padEnd(10)} v${h.fromVersion ?? '-'} → v${h.toVersion ?? '-'}  by ${h.movedBy}: ${h.reason}`);
      }),
    );
  cmd
    .command('rollback <name>')
    .description('serve the previous champion (or --to-version) on all traffic now; every API process follows within seconds')
    .option('--to-version <n>', 'the version to roll back to (default: the champion before the current one)')
    .requiredOption('--reason <text>', 'why (kept in the alias and route history)')
    .action((name: string, opts: { toVersion?: string; reason: string }) =>
      withStore(async (store) => {
        const toVersion = opts.toVersion === undefined ? undefined : Number(opts.toVersion);
        if (toVersion !== undefined && !(Number.isInteger(toVersion) && toVersion > 0)) throw new Error(`--to-version must be a version number, got "${opts.toVersion}"`);
        const config = loadConfig();
        const cache = openCache(config.redisUrl);
        const by = `cli (${process.env.USER ?? 'unknown user'})`;
        try {
          const result = await rollbackModel(store, cache, { model: name, toVersion, movedBy: by, reason: opts.reason });
          console.log(`${name}: v${result.fromVersion ?? '-'} → v${result.toVersion} on 100% of traffic (routes generation ${result.routes.generation})`);
        } finally {
          await cache.close();
        }
        // A running deployment would move traffic again at its next step: stop it.
        const running = await runningDeployments(store, name);
        if (running.length === 0) return;
        const client = await connectClient(config);
        try {
          for (const id of running) {
            await client.workflow.getHandle(id).signal(abortSignal, `manual rollback by ${by}: ${opts.reason}`);
            console.log(`  aborted running deployment ${id}`);
          }
        } finally {
          await client.connection.close();
        }
      }),
    );
  return cmd;
}
