/**
 * Several machines, no shared directory: host A runs the Temporal dev server, MariaDB, Redis and the
 * S3-compatible object store (versitygw); hosts B and C — network namespaces with their own
 * addresses, made by the test — each run a worker process (one training slot) with its own empty
 * DATA_DIR and ARTIFACT_URL pointing at A's object store. The experiment's input CSVs are in the
 * object store too (import.source.path is an s3:// URL; the local copy is deleted before any
 * worker starts), so the workers read nothing from this machine's disk. A full experiment (two algorithms, trials
 * fanned out) runs with trials completed on both B and C (the activity events' worker identities),
 * B's worker is killed mid-search and the run still completes on C, and an API process on C loads
 * the registered model from the object store and serves predictions.
 *
 * Where network namespaces cannot be made (not root, no `ip`), the test says so and runs the same
 * scenario with every process on loopback; with MLP_REQUIRE_NETNS=1 (.ci/run as root) it fails instead.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { createConnection } from 'mysql2/promise';
import { writeSyntheticMarket } from '../../lib/market-data/synthetic';
import { getModelVersion, listModelVersions } from '../../lib/registry/model-registry';
import { artifactKey } from '../../lib/registry/artifact-store';
import { openDatabase, type Database } from '../../lib/store/database';
import { TASK_QUEUES } from '../../lib/task-queues';
import { pipelineStatusQuery, searchProgressQuery, trainingPipeline } from '../../workflows';
import { smallExperiment } from '../helpers/experiments';
import { makeHosts, startMariaDb, startRedis, startTemporalDevServer, stateDir, type Hosts, type Service } from '../helpers/hosts';
import { startTestObjectStore, type TestObjectStore } from '../helpers/object-store';
import { freePort, killWorker, startWorkerProcess } from '../helpers/worker-process';

const TOKEN = 'multi-host-token-0123456789abcdef';

describe('workers on separate hosts sharing only Temporal, MariaDB, Redis and the object store', () => {
  let hosts: Hosts;
  const services: Service[] = [];
  let s3: TestObjectStore | undefined;
  const children: ChildProcess[] = [];
  const dirs: string[] = [];
  let store: Database | undefined;
  let connection: Connection | undefined;

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) await killWorker(c).catch(() => undefined);
    await connection?.close().catch(() => undefined);
    await store?.close().catch(() => undefined);
    await s3?.stop().catch(() => undefined);
    for (const s of services.reverse()) await s.stop().catch(() => undefined);
    hosts?.cleanup();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it('runs an experiment on B and C, survives B dying mid-search, and serves the model from the object store on C', async () => {
    hosts = makeHosts(2);
    if (!hosts.isolated) {
      if (process.env.MLP_REQUIRE_NETNS === '1') throw new Error(`network namespaces are required here (MLP_REQUIRE_NETNS=1) but unavailable: ${hosts.reason}`);
      console.warn(`multi-host test: network namespaces are unavailable (${hosts.reason}); running the same scenario with every process on loopback`);
    }
    const [b, c] = hosts.others;
    const a = hosts.a.address;
    const stateA = stateDir('mlp-host-a-');
    dirs.push(stateA);
    const [dbPort, redisPort, temporalPort, s3Port] = [await freePort(), await freePort(), await freePort(), await freePort()];
    services.push(await startMariaDb(a, dbPort, stateA));
    services.push(await startRedis(a, redisPort, stateA));
    services.push(await startTemporalDevServer(a, temporalPort, stateA));
    s3 = await startTestObjectStore({ host: a, port: s3Port });

    const admin = await createConnection({ host: a, port: dbPort, user: 'root' });
    await admin.query('CREATE DATABASE pipeline');
    await admin.end();
    const databaseUrl = `mysql://root@${a}:${dbPort}/pipeline`;
    store = await openDatabase(databaseUrl);

    // The experiment's input: CSV files uploaded to the object store, read by whichever worker ingests.
    // The local copy goes before any worker starts: a worker reading a local path would fail.
    const market = stateDir('mlp-host-market-');
    dirs.push(market);
    await writeSyntheticMarket(market, { symbols: 10, from: '2016-01-04', to: '2018-03-29', plantErrors: false });
    const marketUrl = await s3.putFolder(market, 'inputs/market');
    fs.rmSync(market, { recursive: true, force: true });

    const shared = { TEMPORAL_ADDRESS: `${a}:${temporalPort}`, DATABASE_URL: databaseUrl, REDIS_URL: `redis://${a}:${redisPort}/0`, ...s3.env(), TRAINING_CONCURRENCY: '1' };
    const hostEnv = async (prefix: string) => {
      const dataDir = stateDir(prefix);
      dirs.push(dataDir);
      return { dataDir, env: { ...shared, DATA_DIR: dataDir, ARTIFACT_DIR: '', METRICS_ADDRESS: `127.0.0.1:${await freePort()}`, APP_METRICS_ADDRESS: `127.0.0.1:${await freePort()}` } };
    };
    const onB = await hostEnv('mlp-host-b-');
    const onC = await hostEnv('mlp-host-c-');
    const workerB = await startWorkerProcess(onB.env, { prefix: b.prefix, startTimeoutMs: 240_000 });
    children.push(workerB);
    const workerC = await startWorkerProcess(onC.env, { prefix: c.prefix, startTimeoutMs: 240_000 });
    children.push(workerC);
    const identityOf = (pid: number | undefined) => new RegExp(`^${pid}@`);

    connection = await Connection.connect({ address: `${a}:${temporalPort}` });
    const client = new Client({ connection });
    const experiment = {
      ...smallExperiment(marketUrl, 'multi-host'),
      search: { method: 'tpe' as const, trials: 6, parallelism: 2, maxTrainRows: 3000, maxTestRows: 2000 },
    };
    const handle = await client.workflow.start(trainingPipeline, {
      taskQueue: TASK_QUEUES.pipeline,
      workflowId: `multi-host-${Date.now()}`,
      args: [{ experiment, timeouts: { trainingHeartbeatSeconds: 5 } }],
    });
    const algorithms = experiment.algorithms.map((x) => x.algorithm);

    /** Worker identity of every completed trial (runTrial) so far, over both algorithms' searches. */
    async function trialCompletions(): Promise<string[]> {
      const out: string[] = [];
      for (const algorithm of algorithms) {
        const events = (await client.workflow.getHandle(`${handle.workflowId}/${algorithm}`).fetchHistory().catch(() => undefined))?.events ?? [];
        const trialScheduled = new Set(events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'runTrial').map((e) => String(e.eventId)));
        for (const e of events) {
          const done = e.activityTaskCompletedEventAttributes;
          if (done && trialScheduled.has(String(done.scheduledEventId))) out.push(done.identity ?? '');
        }
      }
      return out;
    }

    // Kill B once both hosts have completed trials and the search still has trials to run.
    let beforeKill: string[] = [];
    for (let i = 0; i < 2400; i++) {
      const status = await handle.query(pipelineStatusQuery).catch(() => undefined);
      const progress = await Promise.all(
        algorithms.map((alg) => (status?.trainingWorkflows?.[alg] ? client.workflow.getHandle(status.trainingWorkflows[alg]).query(searchProgressQuery).catch(() => undefined) : undefined)),
      );
      const remaining = progress.some((p) => p === undefined || (p.phase === 'search' && p.trialsDone < experiment.search.trials));
      beforeKill = await trialCompletions();
      if (beforeKill.some((id) => identityOf(workerB.pid).test(id)) && beforeKill.some((id) => identityOf(workerC.pid).test(id)) && remaining) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(beforeKill.some((id) => identityOf(workerB.pid).test(id))).toBe(true);
    expect(beforeKill.some((id) => identityOf(workerC.pid).test(id))).toBe(true);
    await killWorker(workerB);

    const result = await handle.result();
    const completions = await trialCompletions();
    expect(completions).toHaveLength(algorithms.length * experiment.search.trials);
    expect(completions.every((id) => identityOf(workerB.pid).test(id) || identityOf(workerC.pid).test(id))).toBe(true);
    expect(completions.filter((id) => identityOf(workerC.pid).test(id)).length).toBeGreaterThan(beforeKill.filter((id) => identityOf(workerC.pid).test(id)).length);
    // The registered version (promoted or not: the promotion policy is not what this test is about).
    const registered = await listModelVersions(store, 'multi-host');
    expect(registered.length).toBeGreaterThanOrEqual(1);
    const promoted = result.promoted?.version ?? registered[registered.length - 1].version;

    // The snapshot was imported from the object store, each file under its s3:// URL.
    const snapshots = await store.db.selectFrom('dataset_snapshots').select('source').execute();
    expect(snapshots.map((s) => (JSON.parse(s.source) as { path?: string }).path)).toEqual([marketUrl]);
    expect(fs.existsSync(market)).toBe(false);

    // Nothing was written to a local artifact directory on B or C: every artifact is in the bucket.
    for (const dir of [onB.dataDir, onC.dataDir]) expect(fs.existsSync(path.join(dir, 'artifacts'))).toBe(false);
    const version = await getModelVersion(store, 'multi-host', promoted as number);
    expect(fs.existsSync(path.join(s3.dir, s3.bucket, 'artifacts', artifactKey(version.artifactSha256)))).toBe(true);

    // An API process on host C with an empty DATA_DIR loads the model from the object store and serves it.
    const onApi = await hostEnv('mlp-host-c-api-');
    const apiPort = await freePort();
    const apiUrl = `http://${c.address}:${apiPort}`;
    children.push(await startWorkerProcess({ ...onApi.env, API_ADDRESS: `${c.address}:${apiPort}`, API_TOKENS: `mh:${TOKEN}=predict+admin` }, { prefix: c.prefix, entry: 'api/main.ts', ready: 'prediction API listening', startTimeoutMs: 240_000 }));
    const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
    // Served and made champion together (a split naming another champion than the alias is refused).
    const put = await fetch(`${apiUrl}/v1/admin/rollback/multi-host`, { method: 'POST', headers, body: JSON.stringify({ toVersion: promoted, reason: 'multi-host test' }) });
    expect(put.status).toBe(200);
    let loaded: number[] = [];
    for (let i = 0; i < 200 && !loaded.includes(promoted as number); i++) {
      const models = (await (await fetch(`${apiUrl}/v1/models`, { headers })).json()) as { models: Array<{ model: string; versions: Array<{ version: number; artifactSha256: string }> }> };
      loaded = models.models.find((m) => m.model === 'multi-host')?.versions.map((v) => v.version) ?? [];
      if (!loaded.includes(promoted as number)) await new Promise((r) => setTimeout(r, 100));
    }
    expect(loaded).toContain(promoted);
    expect(fs.existsSync(path.join(onApi.dataDir, 'artifact-cache', artifactKey(version.artifactSha256)))).toBe(true); // fetched from the store
    const symbol = (await store.db.selectFrom('bars').select('symbol').limit(1).executeTakeFirstOrThrow()).symbol;
    const prediction = await fetch(`${apiUrl}/v1/predictions/${symbol}`, { headers });
    const body = (await prediction.json()) as { predictions?: Array<{ model: string; version: number }> };
    expect({ status: prediction.status, body }).toMatchObject({ status: 200, body: { predictions: [expect.objectContaining({ version: promoted })] } });
  }, 900_000);
});
