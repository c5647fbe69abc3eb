/**
 * One promotion judgement on a large registry (`npm run bench:challenges`): how long judgeChallenge
 * takes, in its transaction, to number a challenger after the earlier runs on its outcomes under every
 * model name (lib/registry/challenges.ts), and how long earlierRunTrials takes. A registry of
 * --versions rows under 40 names (default 2,000; metrics of about 15 KB each, a year's daily backtest,
 * as a registered version carries) is written into a fresh database per driver, each with its
 * promotion_challenges row; a third of the rows state the challenger's outcomes (label, universe,
 * period), the others another universe, another label or an earlier period. The first --unvouched
 * rows (default 300) are unsigned or signed with a dropped key; the rest with the key. Timed, each
 * --repeat times (median, min, max in ms):
 *   - a challenger on outcomes nobody else evaluated (challenge 1);
 *   - a challenger on the shared outcomes (challenge 1 + a third of the versions), not promoted;
 *   - the same with a p small enough to promote: the rows counted under other names are then read
 *     whole and their signatures checked (the rare path);
 *   - earlierRunTrials on the shared outcomes.
 *   tsx bench/challenge-judgement.ts [--versions 2000] [--unvouched 300] [--repeat 7] [--drivers sqlite,mysql]
 */
import { performance } from 'node:perf_hooks';
import { Command } from 'commander';
import { earlierRunTrials, judgeChallenge, type ChallengeIdentity } from '../lib/registry/challenges';
import { toVersion } from '../lib/registry/model-registry';
import { challengeLevel, type ChallengeCount } from '../lib/registry/promotion';
import { signRow, type RowSigning } from '../lib/registry/row-signature';
import type { Database } from '../lib/store/database';
import type { ModelVersionsTable } from '../lib/store/schema';
import { DRIVERS } from '../test/helpers/databases';

const cli = new Command()
  .option('--versions <n>', 'registry rows', '2000')
  .option('--unvouched <n>', 'of them unsigned or signed with a dropped key', '300')
  .option('--repeat <n>', 'judgements timed per case', '7')
  .option('--drivers <list>', 'sqlite,mysql', 'sqlite,mysql')
  .parse();
const raw = cli.opts<{ versions: string; unvouched: string; repeat: string; drivers: string }>();
const VERSIONS = Number(raw.versions);
const UNVOUCHED = Number(raw.unvouched);
const REPEAT = Number(raw.repeat);

const KEY = 'bench-challenges-signing-key-0123456789abcdef';
const DROPPED_KEY = 'bench-challenges-dropped-key-0123456789abcd';
const signing: RowSigning = { signingKey: KEY, previousKeys: [] };
const PERIOD = { from: '2018-01-02', to: '2018-06-29' };
const SHARED = ['AAPL', 'MSFT', 'XOM', 'JPM'];
const LABEL = { kind: 'direction', horizon: 5 };
const DAILY = Array.from({ length: 250 }, (_, i) => ({ date: `2017-${String(1 + (i % 12)).padStart(2, '0')}-${String(1 + (i % 28)).padStart(2, '0')}`, ret: Math.round(Math.sin(i) * 1e6) / 1e8, position: i % 3 }));

/** The i-th registry row: on the shared outcomes when i % 3 is 0, else another universe, label or an earlier period. */
function registryRow(i: number): ModelVersionsTable {
  const name = `model-${i % 40}`;
  const version = Math.floor(i / 40) + 1;
  const shared = i % 3 === 0;
  const symbols = shared || i % 3 === 1 ? SHARED : [`X${i}`, `Y${i}`, `Z${i}`];
  const label = shared || i % 3 === 2 ? LABEL : { kind: 'volatility_regime', horizon: 20 };
  const earlier = !shared && i % 2 === 0;
  const row: ModelVersionsTable = {
    name,
    version,
    artifact_sha256: 'ab'.repeat(32),
    artifact_bytes: 1000,
    algorithm: 'logistic_regression',
    params: JSON.stringify({ c: 1 + (i % 7) }),
    seed: i,
    feature_set_version: 'fs-bench',
    label: JSON.stringify(label),
    snapshot_id: null,
    snapshot_hash: null,
    code_version: 'bench',
    workflow_id: `wf-${name}-${version}`,
    run_id: 'r1',
    registration_key: `${name}-${version}`,
    metrics: JSON.stringify({ outOfSample: { period: earlier ? { from: '2016-01-04', to: '2016-12-30' } : PERIOD, auc: 0.51, backtest: { daily: DAILY, deflatedSharpeTrials: { run: 3 } } } }),
    lineage: JSON.stringify({ universe: { requested: symbols, trained: symbols }, datasetId: `ds-${i}`, experiment: { name, notes: 'x'.repeat(400) } }),
    created_at: earlier ? '2017-01-03T00:00:00.000Z' : '2018-07-02T00:00:00.000Z',
    signature: null,
    signature_key_id: null,
  };
  const key = i < UNVOUCHED / 2 ? null : i < UNVOUCHED ? DROPPED_KEY : KEY;
  if (key !== null) {
    const signature = signRow(key, toVersion(row));
    row.signature = signature.mac;
    row.signature_key_id = signature.keyId;
  }
  return row;
}

async function fill(store: Database): Promise<void> {
  const rows = Array.from({ length: VERSIONS }, (_, i) => registryRow(i));
  for (let i = 0; i < rows.length; i += 100) await store.db.insertInto('model_versions').values(rows.slice(i, i + 100)).execute();
  const ledger = rows.map((r) => {
    const period = (JSON.parse(r.metrics) as { outOfSample: { period: { from: string; to: string } } }).outOfSample.period;
    return { model: r.name, seq: Number(r.version), challenge_key: `${r.workflow_id}/r1`, champion_version: null, challenger_version: r.version, algorithm: r.algorithm, algorithms_tested: 1, dataset_id: (JSON.parse(r.lineage) as { datasetId: string }).datasetId, period_from: period.from, period_to: period.to, metric: 'auc', challenge_number: 1, level: 0.025, p_value: 0.5, champion_p_value: null, promoted: 0, reason: 'no edge', created_at: r.created_at };
  });
  for (let i = 0; i < ledger.length; i += 100) await store.db.insertInto('promotion_challenges').values(ledger.slice(i, i + 100)).execute();
}

const stats = (ms: number[]) => {
  const sorted = [...ms].sort((a, b) => a - b);
  return `median ${sorted[Math.floor(sorted.length / 2)].toFixed(1)} ms (min ${sorted[0].toFixed(1)}, max ${sorted[sorted.length - 1].toFixed(1)})`;
};

/** Judges `repeat` new challengers (each under a name of its own, its record removed after) and returns the times and the numbers given. */
async function judgements(store: Database, tag: string, symbols: string[], p: number): Promise<{ ms: number[]; numbers: Set<number>; promoted: Set<boolean> }> {
  const ms: number[] = [];
  const numbers = new Set<number>();
  const promoted = new Set<boolean>();
  for (let k = 0; k < REPEAT; k++) {
    const model = `${tag}-${k}`;
    const identity: ChallengeIdentity = { key: `wf-${model}/r1`, model, championVersion: null, challengerVersion: 1, algorithm: 'logistic_regression', algorithmsTested: 1, datasetId: `ds-${model}`, period: PERIOD, metric: 'auc', pValue: p, outcomes: { label: LABEL, symbols } };
    const decide = (count: ChallengeCount) => {
      const { level, text } = challengeLevel(0.05, { challenge: count });
      return { decision: { promote: p < level, reason: `p ${p} vs ${text}` }, level };
    };
    const started = performance.now();
    const { record, decision } = await judgeChallenge(store, identity, decide, signing);
    ms.push(performance.now() - started);
    numbers.add(record.number);
    promoted.add(decision.promote);
    await store.db.deleteFrom('promotion_challenges').where('model', '=', model).execute();
  }
  return { ms, numbers, promoted };
}

async function main(): Promise<void> {
  const wanted = raw.drivers.split(',');
  for (const [driver, create] of DRIVERS.filter(([d]) => wanted.includes(d))) {
    const t = await create();
    try {
      const filled = performance.now();
      await fill(t.store);
      console.log(`${driver}: ${VERSIONS} versions (${UNVOUCHED} unsigned or signed with a dropped key), a ledger row each, written in ${((performance.now() - filled) / 1000).toFixed(1)} s`);
      for (const [what, symbols, p] of [
        ['outcomes nobody else evaluated', ['NEW1', 'NEW2', 'NEW3'], 0.004],
        ['the shared outcomes, not promoted', SHARED, 0.004],
        ['the shared outcomes, promoted (counted rows checked)', SHARED, 1e-12],
      ] as const) {
        const r = await judgements(t.store, what.replace(/\W+/g, '-').slice(0, 40), [...symbols], p);
        console.log(`${driver}: judgement on ${what}: ${stats(r.ms)}; challenge ${[...r.numbers].join('/')}, promoted ${[...r.promoted].join('/')}`);
      }
      const ms: number[] = [];
      let found = { runs: 0, trials: 0 };
      for (let k = 0; k < REPEAT; k++) {
        const started = performance.now();
        found = await earlierRunTrials(t.store, { model: 'trials-bench', datasetId: 'ds-trials', period: PERIOD, outcomes: { label: LABEL, symbols: SHARED } });
        ms.push(performance.now() - started);
      }
      console.log(`${driver}: earlierRunTrials on the shared outcomes: ${stats(ms)}; ${found.runs} runs, ${found.trials} trials`);
    } finally {
      await t.drop();
    }
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
