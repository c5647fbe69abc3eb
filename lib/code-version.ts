import { execFileSync } from 'node:child_process';
import path from 'node:path';

let cached: string | undefined;

/**
 * The code a model was trained with, for lineage: CODE_VERSION when set (images built without
 * .git), else the git commit of this checkout, suffixed "-dirty" when it has uncommitted changes,
 * as it was at the first call (the worker makes it at start: workers/main.ts).
 */
export function codeVersion(): string {
  if (cached) return cached;
  const fromEnv = process.env.CODE_VERSION?.trim();
  if (fromEnv) return (cached = fromEnv);
  const cwd = path.resolve(__dirname, '..');
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() !== '';
    cached = dirty ? `${commit}-dirty` : commit;
  } catch {
    cached = 'unknown';
  }
  return cached;
}
