import fs from 'node:fs';
import path from 'node:path';

/**
 * The repository this CLI runs from: the nearest folder above this file with a package.json. Works
 * from the sources (client/) and from the bundle (dist/cli.js), which sit at different depths.
 */
export function repoRoot(from: string = __dirname): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) return path.resolve(from, '..');
  }
}

/** The version in the repository's package.json (for `mlp --version`). */
export function packageVersion(): string {
  try {
    return (JSON.parse(fs.readFileSync(path.join(repoRoot(), 'package.json'), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}
