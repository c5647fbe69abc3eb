/**
 * npm run build: bundles the `mlp` command line (client/cli.ts) into dist/cli.js, ahead of time, so
 * starting it compiles nothing, and scripts/temporal-server.ts into dist/temporal-server.js (the
 * install step runs it on every ./run.sh). Node packages stay external (required from node_modules at
 * run time); the project's own code is bundled, with source maps (NODE_OPTIONS=--enable-source-maps
 * maps stack traces back to the TypeScript).
 *
 *   tsx scripts/build.ts            build dist/cli.js
 *   tsx scripts/build.ts --if-stale build only when dist/cli.js is missing or older than its sources
 */
import fs from 'node:fs';
import path from 'node:path';
import { build, type Metafile } from 'esbuild';

const REPO_ROOT = path.resolve(__dirname, '..');
export const CLI_ENTRY = path.join(REPO_ROOT, 'client', 'cli.ts');
export const CLI_OUTFILE = path.join(REPO_ROOT, 'dist', 'cli.js');
const ENTRY_POINTS = { cli: CLI_ENTRY, 'temporal-server': path.join(REPO_ROOT, 'scripts', 'temporal-server.ts') };
/** The inputs of the last build (esbuild's metafile), to tell whether the bundle is stale. */
const METAFILE = path.join(REPO_ROOT, 'dist', 'cli.meta.json');
/** Files that change the bundle without being part of it. */
const BUILD_INPUTS = [__filename, path.join(REPO_ROOT, 'package-lock.json'), path.join(REPO_ROOT, 'tsconfig.json')];

function mtimeMs(file: string): number | undefined {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return undefined;
  }
}

/** Why dist must be rebuilt (a bundle missing, or an input newer than it), or undefined when it is up to date. */
export function cliStaleReason(): string | undefined {
  const outputs = Object.keys(ENTRY_POINTS).map((name) => path.join(REPO_ROOT, 'dist', `${name}.js`));
  const missing = outputs.find((f) => mtimeMs(f) === undefined);
  if (missing) return `${path.relative(REPO_ROOT, missing)} is missing`;
  const built = Math.min(...outputs.map((f) => mtimeMs(f) as number));
  let inputs: string[];
  try {
    inputs = Object.keys((JSON.parse(fs.readFileSync(METAFILE, 'utf8')) as Metafile).inputs).map((f) => path.resolve(REPO_ROOT, f));
  } catch {
    return `${path.relative(REPO_ROOT, METAFILE)} is missing or unreadable`;
  }
  for (const file of [...inputs, ...BUILD_INPUTS]) {
    const changed = mtimeMs(file);
    if (changed === undefined) return `${path.relative(REPO_ROOT, file)} is gone`;
    if (changed > built) return `${path.relative(REPO_ROOT, file)} changed`;
  }
  return undefined;
}

/** Bundles the entry points into dist/ (CommonJS, node 20, node packages external, source maps) and makes them executable. */
export async function buildCli(): Promise<{ outfile: string; bytes: number; ms: number }> {
  const started = Date.now();
  const result = await build({
    absWorkingDir: REPO_ROOT,
    entryPoints: ENTRY_POINTS,
    outdir: path.join(REPO_ROOT, 'dist'),
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    packages: 'external',
    sourcemap: true,
    metafile: true,
    write: false,
    logLevel: 'warning',
    banner: { js: '#!/usr/bin/env node' },
  });
  // Each file is written beside its final name and renamed into place: a build running while `mlp`
  // starts (or while another build runs) never leaves a half-written bundle.
  fs.mkdirSync(path.dirname(CLI_OUTFILE), { recursive: true });
  const files = [...result.outputFiles.map((f) => ({ path: f.path, contents: f.contents as Uint8Array | string })), { path: METAFILE, contents: JSON.stringify(result.metafile) }];
  for (const file of files) {
    const tmp = `${file.path}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, file.contents, { mode: file.path.endsWith('.js') ? 0o755 : 0o644 });
    fs.renameSync(tmp, file.path);
  }
  return { outfile: CLI_OUTFILE, bytes: fs.statSync(CLI_OUTFILE).size, ms: Date.now() - started };
}

/** Builds when stale (or always); returns what it did, for the log. */
export async function buildCliIfStale(force = false): Promise<string> {
  const reason = force ? 'requested' : cliStaleReason();
  if (reason === undefined) return `${path.relative(REPO_ROOT, CLI_OUTFILE)} is up to date`;
  const { bytes, ms } = await buildCli();
  return `built ${path.relative(REPO_ROOT, CLI_OUTFILE)} (${Math.round(bytes / 1024)} KiB) in ${ms} ms (${reason})`;
}

if (require.main === module) {
  buildCliIfStale(!process.argv.includes('--if-stale')).then(
    (line) => console.error(line),
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : error);
      process.exit(1);
    },
  );
}
