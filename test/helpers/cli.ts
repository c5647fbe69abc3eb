/** Runs the built CLI (`node dist/cli.js`) as a user would, for tests that judge its exit code and output. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { CLI_OUTFILE } from '../../scripts/build';

const run = promisify(execFile);

export interface CliOutput {
  code: number;
  stdout: string;
  stderr: string;
}

/** `node [nodeArgs] dist/cli.js …args` in `env` (and in the folder `cwd`); never throws on a non-zero exit (the code is returned). */
export async function runBuiltCli(args: readonly string[], env: NodeJS.ProcessEnv, nodeArgs: readonly string[] = [], cwd?: string): Promise<CliOutput> {
  try {
    const { stdout, stderr } = await run(process.execPath, [...nodeArgs, CLI_OUTFILE, ...args], { env, cwd, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}
