/**
 * tsx scripts/object-store.ts install|start|stop
 *   install: find versitygw (VERSITYGW_PATH, the per-user cache, PATH), else build it with Go into the
 *            per-user cache the Temporal CLI uses (prints its path)
 *   start:   serve $DATA_DIR/object-store over the S3 API at S3_ENDPOINT (default http://127.0.0.1:7070),
 *            root credentials AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, creating the ARTIFACT_URL bucket
 *   stop:    stop the server "start" started
 * Only needed with ARTIFACT_URL (workers on several machines); the embedded default uses ARTIFACT_DIR.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { loadConfig } from '../lib/config';
import { answers, cachedVersitygwPath, ensureVersitygw, startObjectStore } from '../platform/object-store';

function settings() {
  const config = loadConfig();
  const endpoint = new URL(process.env.S3_ENDPOINT || 'http://127.0.0.1:7070');
  const accessKey = process.env.AWS_ACCESS_KEY_ID;
  const secretKey = process.env.AWS_SECRET_ACCESS_KEY;
  if (!accessKey || !secretKey) throw new Error('set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY: the object store takes them as its root credentials');
  const bucket = config.artifacts.kind === 's3' ? config.artifacts.bucket : undefined;
  const dir = path.join(config.dataDir, 'object-store');
  return { address: `${endpoint.hostname}:${endpoint.port || '80'}`, accessKey, secretKey, bucket, dir, pidFile: path.join(config.dataDir, 'object-store.pid') };
}

const program = new Command('object-store').description('the S3-compatible object store (versitygw) for ARTIFACT_URL');
program
  .command('install')
  .description(`find or build versitygw and print its path (built once per user into ${cachedVersitygwPath()})`)
  .action(() => console.log(ensureVersitygw()));
program
  .command('start')
  .description('serve $DATA_DIR/object-store at S3_ENDPOINT unless something answers there')
  .action(async () => {
    const s = settings();
    if (await answers(s.address)) return console.log(`something already answers at ${s.address}`);
    const handle = await startObjectStore({ dir: s.dir, address: s.address, accessKey: s.accessKey, secretKey: s.secretKey, buckets: s.bucket ? [s.bucket] : [], logFile: path.join(path.dirname(s.dir), 'object-store.log'), detached: true });
    handle.process.unref();
    fs.writeFileSync(s.pidFile, String(handle.process.pid));
    console.log(`object store (pid ${handle.process.pid}) at ${handle.endpoint}, serving ${s.dir}${s.bucket ? `, bucket ${s.bucket}` : ''}`);
  });
program
  .command('stop')
  .description('stop the object store started by "start"')
  .action(() => {
    const { pidFile } = settings();
    if (!fs.existsSync(pidFile)) return console.log('no object store started by this project (no pid file)');
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    try {
      process.kill(pid, 'SIGTERM');
      console.log(`stopped the object store (pid ${pid})`);
    } catch {
      console.log(`the object store (pid ${pid}) was not running`);
    }
    fs.rmSync(pidFile);
  });
program.parseAsync().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
