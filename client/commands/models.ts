import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import type { ModelVersion } from '../../lib/registry/model-registry';
import { accuracyComparisonsOf, pValueText, type AccuracyComparison, type StoredAccuracyLift } from '../../lib/registry/promotion';
import type { Database } from '../../lib/store/database';
import { escapeControl } from '../../lib/quality/excerpt';
import { printableJson } from '../../lib/printable-json';
import { annualisedText } from '../../lib/backtest/short-sample';
import { withStore } from '../with-store';
import { runningDeployments, sendUpdate } from './deployments';
import { lazy } from '../lazy';
import { parseNumberFlag } from '../number-flag';
import { connectClient } from '../temporal-client';

/** The registry's aliases (lib/registry/model-registry.ts MODEL_ALIASES), here so that --help loads no registry code. */
const ALIASES_FOR_HELP = 'champion, challenger, canary, shadow';

/** Every alias of the named models: model → version → aliases pointing at it. */
export async function aliasesByVersion(store: Database, name?: string): Promise<Map<string, Map<number, string[]>>> {
  let q = store.db.selectFrom('model_aliases').select(['name', 'alias', 'version']).orderBy('alias');
  if (name) q = q.where('name', '=', name);
  const byModel = new Map<string, Map<number, string[]>>();
  for (const row of await q.execute()) {
    const versions = byModel.get(row.name) ?? new Map<number, string[]>();
    const version = Number(row.version);
    versions.set(version, [...(versions.get(version) ?? []), row.alias]);
    byModel.set(row.name, versions);
  }
  return byModel;
}

/**
 * A version reference ("3", "v3" or an alias) of a model → the version, with errors that tell an unknown
 * model ("no such model") from a model without that alias.
 */
export async function resolveModelRef(store: Database, name: string, ref: string): Promise<{ version: number; alias?: string }> {
  const { resolveVersion, RegistryError } = lazy.registry();
  const known = await store.db.selectFrom('model_versions').select('version').where('name', '=', name).limit(1).executeTakeFirst();
  if (!known) {
    const names = (await store.db.selectFrom('model_versions').select('name').distinct().orderBy('name').execute()).map((r) => r.name);
    throw new RegistryError(`no such model "${name}"; ${names.length ? `registered models: ${names.join(', ')}` : 'no model is registered yet'} (see "mlp models list")`);
  }
  const isAlias = !/^v?\d+$/.test(ref);
  try {
    return { version: await resolveVersion(store, name, ref), ...(isAlias ? { alias: ref } : {}) };
  } catch (error) {
    if (!isAlias || !(error instanceof RegistryError) || !/ has no /.test(error.message)) throw error;
    const set = [...((await aliasesByVersion(store, name)).get(name) ?? new Map<number, string[]>()).entries()].flatMap(([v, aliases]) => aliases.map((a) => `${a} → v${v}`));
    throw new RegistryError(`model ${name} has no ${ref} (${set.length ? `its aliases: ${set.join(', ')}` : 'no alias is set'})`);
  }
}

/**
 * A version's stored out-of-sample report, as JSON gives it back: every figure may be null (NaN when
 * stored: an undefined p-value, an AUC of one class), and older versions lack some of them.
 */
interface StoredOutOfSample {
  period?: { from: string; to: string };
  classification?: { accuracy: number | null; rocAuc: number | null };
  baseline?: StoredAccuracyLift & { name?: string; naivePValue?: number | null; noInformation?: StoredAccuracyLift };
  auc?: { versus: string; baselineAuc: number | null; difference: { value: number | null; interval: [number | null, number | null]; pValue: number | null }; withinDay?: { value: number | null; versus: string; baselineValue: number | null; difference: { value: number | null; interval: [number | null, number | null]; pValue: number | null } } };
  informationCoefficient?: { mean: number | null; tStat?: number | null; baseline?: { name: string; mean: number | null; tStat?: number | null } };
  backtest?: { strategy?: { sharpe?: number | null; maxDrawdown?: number | null; periods?: number | null }; buyAndHold?: { sharpe?: number | null; maxDrawdown?: number | null; periods?: number | null }; versusNaiveStrategy?: { versus: string; rivalSharpe: number | null; difference: { pValue: number | null } } };
  guards?: Array<{ guard: string; tripped: boolean }>;
}

const f = (x: number | null | undefined, d = 4) => (typeof x !== 'number' || !Number.isFinite(x) ? '-' : x.toFixed(d));
const signed = (x: number | null | undefined, d = 4) => `${typeof x === 'number' && x >= 0 ? '+' : ''}${f(x, d)}`;

/** The baseline of an accuracy comparison, hindsight named as such. */
const rivalOf = (c: AccuracyComparison) => (c.hindsight ? `${c.versus}: the evaluation period's own majority class, the no-information rate, known only in hindsight` : `${c.versus}, the strongest naive baseline`);

/** The mean daily IC, its t-statistic and the best naive ranking's, each where stored. */
function informationCoefficientText(ic: StoredOutOfSample['informationCoefficient']): string {
  const t = (x: number | null | undefined) => (typeof x === 'number' ? `, t ${f(x, 2)}` : '');
  const details = [
    ...(typeof ic?.tStat === 'number' ? [`t ${f(ic.tStat, 2)}, rows dependent by day and symbol`] : []),
    ...(ic?.baseline ? [`best naive ranking ${ic.baseline.name} ${f(ic.baseline.mean)}${t(ic.baseline.tStat)}`] : []),
  ];
  return `${f(ic?.mean)}${details.length > 0 ? ` (${details.join('; ')})` : ''}`;
}

/** The numbers a trader compares first, from a version's stored metrics. */
export function headline(v: ModelVersion): Record<string, string> {
  const m = v.metrics as { cv?: { auc?: number | null }; outOfSample?: StoredOutOfSample };
  const o = m.outOfSample;
  const wd = o?.auc?.withinDay;
  // Accuracy beside the comparison promotion judges: the strongest fair baseline, or the period's majority class where that evidence is weaker.
  const accuracy = o?.baseline ? accuracyComparisonsOf(o.baseline) : undefined;
  const other = accuracy?.other;
  return {
    // The best of the search's trials: selected on these folds, so optimistic; the OOS figures decide.
    'cv auc (best trial)': m.cv?.auc === undefined ? '-' : `${f(m.cv.auc)} (the search's best trial on the folds it was chosen on: optimistic, no baseline; the OOS figures below decide)`,
    'oos period': o?.period ? `${o.period.from}..${o.period.to}` : '-',
    'oos accuracy': f(o?.classification?.accuracy),
    // Versions evaluated before the no-information rate was recorded have the fair baseline alone (name and all, where stored).
    'baseline accuracy': !accuracy ? '-' : other ? `${f(accuracy.judged.accuracy)} (${rivalOf(accuracy.judged)}; promotion judges accuracy against it, the weaker evidence; ${other.hindsight ? 'the no-information rate' : 'the strongest fair baseline'} ${other.versus} ${f(other.accuracy)})` : `${f(accuracy.judged.accuracy)}${o?.baseline?.name ? ` (${o.baseline.name}, the strongest naive baseline)` : ''}`,
    // Versions evaluated before day-aware inference only have the naive (independent rows) p-value.
    'p-value vs baseline': !accuracy ? '-' : o?.baseline?.naivePValue === undefined ? `${pValueText(accuracy.judged.pValue)} (naive: assumes independent rows)` : other ? `${pValueText(accuracy.judged.pValue)} (one-sided, against ${accuracy.judged.versus}, rows dependent by day and symbol; against ${other.versus} ${Number.isFinite(other.pValue) || Number.isFinite(accuracy.judged.pValue) ? pValueText(other.pValue) : 'undefined'})` : `${pValueText(accuracy.judged.pValue)} (one-sided, rows dependent by day and symbol)`,
    'oos auc': f(o?.classification?.rocAuc),
    'auc vs baseline': o?.auc ? `${signed(o.auc.difference.value)} over ${o.auc.versus} ${f(o.auc.baselineAuc)} (95% [${f(o.auc.difference.interval[0])}, ${f(o.auc.difference.interval[1])}], p ${pValueText(o.auc.difference.pValue)})` : '-',
    // The ranking of each day's stocks alone (no market timing), beside the fair baseline with the best one; versions evaluated before it was measured show '-'.
    'within-day auc': wd ? `${f(wd.value)} vs ${wd.versus} ${f(wd.baselineValue)}: ${signed(wd.difference.value)} (95% [${f(wd.difference.interval[0])}, ${f(wd.difference.interval[1])}], p ${pValueText(wd.difference.pValue)})` : '-',
    'guards tripped': o?.guards ? o.guards.filter((g) => g.tripped).map((g) => g.guard).join(', ') || 'none' : '-',
    // With its t-statistic (rows dependent by day and symbol), as `mlp run` prints it; versions
    // evaluated before the t-statistic or the baseline's IC was recorded show what they have.
    'information coefficient': informationCoefficientText(o?.informationCoefficient),
    // Annualised: marked n/a with the number of periods on a backtest shorter than a trading month.
    'backtest sharpe (net)': annualisedText(o?.backtest?.strategy?.sharpe, o?.backtest?.strategy?.periods, 2),
    'buy-and-hold sharpe (net)': annualisedText(o?.backtest?.buyAndHold?.sharpe, o?.backtest?.buyAndHold?.periods ?? o?.backtest?.strategy?.periods, 2),
    // The best naive rule traded as the model is (versions evaluated before it was traded have none).
    ...(o?.backtest?.versusNaiveStrategy ? { 'best naive rule sharpe (net)': `${annualisedText(o.backtest.versusNaiveStrategy.rivalSharpe, o.backtest.strategy?.periods, 2)} (${o.backtest.versusNaiveStrategy.versus}, traded the same way; paired p ${pValueText(o.backtest.versusNaiveStrategy.difference.pValue)})` } : {}),
    'max drawdown': `${f(o?.backtest?.strategy?.maxDrawdown, 3)}${typeof o?.backtest?.buyAndHold?.maxDrawdown === 'number' ? ` (buy-and-hold ${f(o.backtest.buyAndHold.maxDrawdown, 3)})` : ''}`,
  };
}

/**
 * The one-line figures of `models list`: each beside its rival (accuracy and AUCs beside the
 * strongest naive baseline, Sharpe beside buy-and-hold), the within-day AUC first where measured
 * (a per-stock ranking's evidence), so that no figure reads as an edge on its own.
 */
export function listFigures(v: ModelVersion): string {
  const o = (v.metrics as { outOfSample?: StoredOutOfSample }).outOfSample;
  // Accuracy beside the baseline promotion judges it against (the period's majority class is named as hindsight).
  const accuracy = o?.baseline ? accuracyComparisonsOf(o.baseline).judged : undefined;
  const beside = (label: string, value: string, rival: string | undefined, rivalValue: string) => `${label} ${value}${rival === undefined ? '' : ` (${rival} ${rivalValue})`}`;
  const wd = o?.auc?.withinDay;
  const parts = [
    ...(wd ? [beside('within-day auc', f(wd.value), wd.versus, f(wd.baselineValue))] : []),
    beside('auc', f(o?.classification?.rocAuc), o?.auc?.versus, f(o?.auc?.baselineAuc)),
    beside('acc', f(o?.classification?.accuracy), accuracy ? `${accuracy.versus}${accuracy.hindsight ? ' in hindsight' : ''}` : undefined, f(accuracy?.accuracy)),
    beside('sharpe (net)', annualisedText(o?.backtest?.strategy?.sharpe, o?.backtest?.strategy?.periods, 2), typeof o?.backtest?.buyAndHold?.sharpe === 'number' ? 'buy-and-hold' : undefined, annualisedText(o?.backtest?.buyAndHold?.sharpe, o?.backtest?.buyAndHold?.periods ?? o?.backtest?.strategy?.periods, 2)),
  ];
  return `oos ${parts.join(', ')}`;
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
    ...(v.lineage.warmStartedFrom ? { 'warm-started from': JSON.stringify(v.lineage.warmStartedFrom) } : v.lineage.warmStartSkipped ? { 'warm start': String(v.lineage.warmStartSkipped) } : {}),
    // The last label day its parameters were chosen on: a warm start reuses them only before a later evaluation period.
    ...(typeof v.lineage.searchThrough === 'string' ? { 'params chosen through': v.lineage.searchThrough } : typeof v.lineage.searchBefore === 'string' ? { 'params chosen before': v.lineage.searchBefore } : {}),
    created: v.createdAt,
  };
}

/**
 * Why the row's figures are not shown as the version's: with MODEL_SIGNING_KEY, its signature is
 * missing or fails, so its metrics may have been edited since registration (a flattering AUC).
 * Undefined without the key (rows are not bound) or when the signature holds.
 */
function unvouchedFigures(v: ModelVersion): string | undefined {
  const { rowSignatureProblem, verificationKeysOf } = lazy.rowSignature();
  const keys = verificationKeysOf(lazy.config().configuredSigning());
  return keys === undefined ? undefined : rowSignatureProblem(keys, v);
}

/** headline(v), or every figure withheld (saying why) for a row whose signature does not hold under the key. */
function figures(v: ModelVersion): Record<string, string> {
  const problem = unvouchedFigures(v);
  const h = headline(v);
  return problem === undefined ? h : Object.fromEntries(Object.keys(h).map((k) => [k, 'withheld: the row\'s signature does not hold (see row signature)']));
}

/** The row's signature as this deployment's key judges it (MODEL_SIGNING_KEY; lib/registry/row-signature.ts). */
function signatureState(v: ModelVersion): string {
  const { rowSignatureCheck, currentKeyId, verificationKeysOf } = lazy.rowSignature();
  const keys = verificationKeysOf(lazy.config().configuredSigning());
  if (!v.signature) return keys === undefined ? 'none (MODEL_SIGNING_KEY is not set: rows are not bound)' : `none: refused by verification; sign it with \`mlp models sign ${v.name} ${v.version} --accept-edit\` after checking it`;
  if (keys === undefined) return `key id ${v.signature.keyId} (not checked: MODEL_SIGNING_KEY is not set)`;
  const check = rowSignatureCheck(keys, v);
  if (check.problem !== undefined) return `key id ${v.signature.keyId}: DOES NOT MATCH (this deployment's key id ${currentKeyId(keys)}): refused by verification`;
  return check.previousKeyId !== undefined ? `key id ${v.signature.keyId}: valid, a previous key (MODEL_SIGNING_PREVIOUS_KEYS): re-sign it with \`mlp models sign ${v.name} ${v.version}\`` : `key id ${v.signature.keyId}: valid`;
}

export function modelsCommand(): Command {
  const cmd = new Command('models').description('the model registry: versions, aliases, lineage');
  cmd
    .command('list [name]')
    .description('registered versions with their headline metrics')
    .action((name: string | undefined) =>
      withStore(async (store) => {
        const { listModelVersions } = lazy.registry();
        const versions = await listModelVersions(store, name);
        const aliases = await aliasesByVersion(store, name);
        const label = (v: ModelVersion) => {
          const marks = aliases.get(v.name)?.get(v.version) ?? [];
          return marks.length ? `[${marks.join(',')}]` : '';
        };
        const width = Math.max(0, ...versions.map((v) => label(v).length));
        for (const v of versions) {
          const unvouched = unvouchedFigures(v);
          const shown = unvouched === undefined ? listFigures(v) : `figures withheld: ${unvouched}`;
          console.log(escapeControl(`${v.name} v${v.version} ${width ? `${label(v).padEnd(width)} ` : ''}${v.algorithm.padEnd(20)} ${shown}  ${v.createdAt}`));
        }
        if (versions.length === 0) console.log(name ? `no such model "${name}"` : 'no model is registered yet');
      }),
    );
  cmd
    .command('show <name> <version>')
    .description(`one version (a number or an alias: ${ALIASES_FOR_HELP}) with metrics and lineage`)
    .option('--json', 'everything stored, as JSON')
    .action((name: string, ref: string, opts: { json?: boolean }) =>
      withStore(async (store) => {
        const { getModelVersion } = lazy.registry();
        const { version, alias } = await resolveModelRef(store, name, ref);
        const v = await getModelVersion(store, name, version);
        if (opts.json) {
          if (alias) console.error(`${name} ${alias} is v${version}`);
          return console.log(printableJson(v));
        }
        const aliases = (await aliasesByVersion(store, name)).get(name)?.get(version) ?? [];
        console.log(escapeControl(`${name} v${version}${alias ? ` (${alias} → v${version})` : ''}${aliases.length ? `  aliases: ${aliases.join(', ')}` : ''}`));
        // The row's text as stored (a hand edit can put anything there), escaped.
        for (const [k, value] of Object.entries({ ...lineage(v), 'row signature': signatureState(v), ...figures(v) })) console.log(`${k.padEnd(24)} ${escapeControl(value)}`);
      }),
    );
  cmd
    .command('diff <name> <a> <b>')
    .description('two versions side by side: parameters, metrics, lineage')
    .action((name: string, a: string, b: string) =>
      withStore(async (store) => {
        const { getModelVersion } = lazy.registry();
        const [va, vb] = await Promise.all([a, b].map(async (ref) => getModelVersion(store, name, (await resolveModelRef(store, name, ref)).version)));
        const left = { ...lineage(va), ...figures(va) };
        const right = { ...lineage(vb), ...figures(vb) };
        console.log(`${''.padEnd(24)} ${`v${va.version}`.padEnd(40)} v${vb.version}`);
        for (const key of Object.keys(left)) {
          const l = escapeControl(left[key]);
          const r = escapeControl(right[key]);
          console.log(`${l === r ? ' ' : '*'} ${key.padEnd(22)} ${l.slice(0, 39).padEnd(40)} ${r.slice(0, 60)}`);
        }
      }),
    );
  cmd
    .command('history <name>')
    .description('every alias move: from, to, who, why, when')
    .action((name: string) =>
      withStore(async (store) => {
        const { aliasHistory } = lazy.registry();
        // Who and why as the API or a person gave them: escaped, so a reason can neither drive the terminal nor fake a line of the history.
        for (const h of await aliasHistory(store, name)) console.log(escapeControl(`${h.movedAt}  ${h.alias.padEnd(10)} v${h.fromVersion ?? '-'} → v${h.toVersion ?? '-'}  by ${h.movedBy}: ${h.reason}`));
      }),
    );
  cmd
    .command('rollback <name>')
    .description('serve the previous champion (or --to-version) on all traffic now; every API process follows within seconds')
    .option('--to-version <n>', 'the version to roll back to (default: the champion before the current one)')
    .requiredOption('--reason <text>', 'why (kept in the alias and route history)')
    .action((name: string, opts: { toVersion?: string; reason: string }) =>
      withStore(async (store) => {
        const toVersion = opts.toVersion === undefined ? undefined : parseNumberFlag('--to-version', opts.toVersion, { int: true, min: 1 });
        const { loadConfig } = lazy.config();
        const { openCache } = lazy.cache();
        const { rollbackModel } = lazy.rollback();
        const config = loadConfig();
        const cache = openCache(config.redisUrl);
        const by = `cli (${process.env.USER ?? 'unknown user'})`;
        try {
          // The target's artifact is verified before anything moves, as the admin API does.
          const { openArtifactStore } = lazy.artifactStores();
          const { verifyRegisteredVersion } = lazy.registry();
          const artifacts = openArtifactStore(config.artifacts);
          const signing = lazy.config().configuredSigning(config);
          const { assertSameLabelAsChampion } = lazy.labelSpec();
          const verify = async (m: string, v: number) => {
            await verifyRegisteredVersion(store, artifacts, m, v, signing);
            // One model name serves one target: as the admin API, never a version of another label.
            await assertSameLabelAsChampion(store, m, [v]);
          };
          const result = await rollbackModel(store, cache, { model: name, toVersion, movedBy: by, reason: opts.reason, verify, signing });
          console.log(`${name}: v${result.fromVersion ?? '-'} → v${result.toVersion} on 100% of traffic (routes generation ${result.routes.generation})`);
        } finally {
          await cache.close();
        }
        // A running deployment would move traffic again at its next step: stop it (the abort update answers with its state, or why it refuses).
        const running = await runningDeployments(store, name);
        if (running.length === 0) return;
        const { abortUpdate } = lazy.workflows();
        const client = await connectClient(config);
        try {
          for (const id of running) {
            try {
              const state = await sendUpdate('abort', id, () => client.workflow.getHandle(id).executeUpdate(abortUpdate, { args: [{ by, reason: `manual rollback: ${opts.reason}` }] }));
              console.log(escapeControl(`  abort accepted by running deployment ${id}: now ${state.status}${state.decisions.length ? ` (${state.decisions[state.decisions.length - 1].message})` : ''}`));
            } catch (error) {
              console.error(escapeControl(`  ${(error as Error).message}; it may move traffic again: check it with "mlp deployments show ${id}"`));
              process.exitCode = 1;
            }
          }
        } finally {
          await client.connection.close();
        }
      }),
    );
  cmd
    .command('repair-artifact <name> <version>')
    .description('write a version\'s damaged or missing stored artifact back from a copy (a backup, a host\'s cache); only the exact bytes it was registered with (its sha256 and size) are accepted, and the version is then verified as serving does')
    .requiredOption('--file <path>', 'the copy of the artifact (.mlpa)')
    .action((name: string, ref: string, opts: { file: string }) =>
      withStore(async (store) => {
        const { loadConfig } = lazy.config();
        const config = loadConfig();
        const { version } = await resolveModelRef(store, name, ref);
        let bytes: Buffer;
        try {
          bytes = readFileSync(opts.file);
        } catch (error) {
          throw new Error(`--file ${opts.file} cannot be read: ${(error as Error).message}`, { cause: error });
        }
        const { openArtifactStore } = lazy.artifactStores();
        const { repairVersionArtifact } = lazy.registry();
        const repaired = await repairVersionArtifact(store, openArtifactStore(config.artifacts), name, version, bytes, lazy.config().configuredSigning(config));
        const what = repaired.stored === 'kept' ? 'the stored copy was intact; nothing was written' : repaired.stored === 'replaced' ? 'the damaged stored copy was replaced' : 'the missing stored copy was written';
        console.log(escapeControl(`${name} v${version}: artifact sha256 ${repaired.version.artifactSha256} at ${repaired.url}: ${what}; the version verifies`));
      }),
    );
  cmd
    .command('sign <name> <version>')
    .description('check a version as serving does (artifact, header, feature set, model) and sign its registry row, then its stored drift reference profile, with MODEL_SIGNING_KEY: after a key rotation (the old key in MODEL_SIGNING_PREVIOUS_KEYS confirms them), or with --accept-edit for versions registered before the key was set (--accept-profile for profiles stored before profiles were signed)')
    .option('--accept-edit', 'sign a row no key confirms as it is: unsigned, changed since it was signed, or signed with a key not in MODEL_SIGNING_PREVIOUS_KEYS (refused otherwise: that is what the signature catches)')
    .option('--accept-profile', 'sign a drift reference profile no key confirms as it is (stored before profiles were signed, or changed since); the row itself is signed only under the rules above')
    .action((name: string, ref: string, flags: { acceptEdit?: boolean; acceptProfile?: boolean }) =>
      withStore(async (store) => {
        const { loadConfig } = lazy.config();
        const config = loadConfig();
        if (config.modelSigningKey === undefined) throw new Error('MODEL_SIGNING_KEY is not set: there is no key to sign with; set it to the key the workers and the prediction API use (docs/configuration.md)');
        const { version } = await resolveModelRef(store, name, ref);
        const { openArtifactStore } = lazy.artifactStores();
        const { signModelVersion } = lazy.registry();
        const signing = lazy.config().configuredSigning(config);
        const signed = await signModelVersion(store, openArtifactStore(config.artifacts), name, version, signing, { acceptEdit: flags.acceptEdit === true });
        const before = signed.before.state === 'unsigned' ? 'it had no signature' : signed.before.state === 'valid' ? 'its signature was already valid' : signed.before.state === 'previous_key' ? `it was signed with a previous key, key id ${signed.before.keyId}` : `its signature did not match (${signed.before.reason})`;
        console.log(`${name} v${version}: artifact, header, feature set and model checked; row signed with key id ${signed.signature.keyId} (${before})`);
        // The drift reference profile is stored after the row, with a signature of its own bound to it.
        const { signVersionProfile } = lazy.profileStore();
        const profile = await signVersionProfile(store, signed.version, signing, { acceptEdit: flags.acceptProfile === true });
        if (profile.state !== 'none') console.log(`${name} v${version}: drift reference profile ${profile.state === 'valid' ? 'signature already valid' : `signed (${profile.before === 'unsigned' ? 'it had no signature' : profile.before === 'previous_key' ? 'it was signed with a previous key' : 'its signature did not match'})`}`);
      }),
    );
  cmd
    .command('sign-serving <name>')
    .description('sign a model\'s serving routes and aliases with MODEL_SIGNING_KEY as they stand: after a key rotation (the old key in MODEL_SIGNING_PREVIOUS_KEYS confirms them) signed again in place, same generation and writer, with their history rows; with --accept-edit, routes and aliases written before serving records were signed are written again (a new routes generation with the same split; refused while a deployment of the model runs)')
    .option('--accept-edit', 'sign records no key confirms as they are: unsigned, changed since they were signed, older than the newest signed history row, or signed with a key not in MODEL_SIGNING_PREVIOUS_KEYS (refused otherwise: that is what the signatures catch)')
    .option('--reason <text>', 'why (kept in the alias and route history)', 'key rotation or upgrade')
    .action((name: string, flags: { acceptEdit?: boolean; reason: string }) =>
      withStore(async (store) => {
        const { loadConfig, configuredSigning } = lazy.config();
        const config = loadConfig();
        if (config.modelSigningKey === undefined) throw new Error('MODEL_SIGNING_KEY is not set: there is no key to sign with; set it to the key the workers and the prediction API use (docs/configuration.md)');
        const cache = lazy.cache().openCache(config.redisUrl);
        try {
          const { signServingRecords } = lazy.signServingRecords();
          const by = `cli (${process.env.USER ?? 'unknown user'})`;
          const signed = await signServingRecords(store, cache, name, configuredSigning(config), { by, reason: flags.reason, acceptEdit: flags.acceptEdit === true });
          console.log(escapeControl(`${name}: serving routes ${signed.rewritten ? `signed as generation ${signed.routes.generation}` : `generation ${signed.routes.generation} signed by the current key`}, aliases signed${signed.resigned > 0 ? ` (${signed.resigned} records a previous key signed signed again in place)` : ''}${signed.accepted.length > 0 ? ` (accepted as they stood: ${signed.accepted.join('; ')})` : ''}`));
        } finally {
          await cache.close();
        }
      }),
    );
  return cmd;
}
