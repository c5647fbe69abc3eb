/** Where the Temporal CLI is looked for and built: one per-user cache that every clone finds. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cachedTemporalCliPath, findTemporalCli, TEMPORAL_CLI_VERSION, toolsCacheDir } from '../../platform/temporal-cli';

describe('toolsCacheDir', () => {
  test('MLP_TOOLS_DIR overrides everything', () => {
    expect(toolsCacheDir({ MLP_TOOLS_DIR: '/opt/mlp-tools', XDG_CACHE_HOME: '/xdg', HOME: '/home/u' })).toBe('/opt/mlp-tools');
  });

  test('else $XDG_CACHE_HOME/temporal-ml-pipeline/bin', () => {
    expect(toolsCacheDir({ XDG_CACHE_HOME: '/xdg', HOME: '/home/u' })).toBe('/xdg/temporal-ml-pipeline/bin');
  });

  test('else ~/.cache/temporal-ml-pipeline/bin (a relative XDG_CACHE_HOME is ignored, as the spec says)', () => {
    expect(toolsCacheDir({ HOME: '/home/u' })).toBe('/home/u/.cache/temporal-ml-pipeline/bin');
    expect(toolsCacheDir({ XDG_CACHE_HOME: 'relative/cache', HOME: '/home/u' })).toBe('/home/u/.cache/temporal-ml-pipeline/bin');
  });

  test('the cached binary carries the pinned version in its name', () => {
    expect(cachedTemporalCliPath({ MLP_TOOLS_DIR: '/t' })).toBe(`/t/temporal-${TEMPORAL_CLI_VERSION}`);
  });
});

describe('findTemporalCli', () => {
  let dir: string;
  const executable = (file: string) => {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, '#!/bin/sh\n', { mode: 0o755 });
    return file;
  };
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlp-tools-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('finds the per-user cache when nothing is on PATH', () => {
    const cached = executable(path.join(dir, 'cache', `temporal-${TEMPORAL_CLI_VERSION}`));
    expect(findTemporalCli({ PATH: '', MLP_TOOLS_DIR: path.join(dir, 'cache'), HOME: path.join(dir, 'home') })).toBe(cached);
  });

  test('PATH comes before the cache, TEMPORAL_CLI_PATH before both', () => {
    executable(path.join(dir, 'cache', `temporal-${TEMPORAL_CLI_VERSION}`));
    const onPath = executable(path.join(dir, 'bin', 'temporal'));
    const explicit = executable(path.join(dir, 'explicit', 'temporal'));
    const env = { PATH: path.join(dir, 'bin'), MLP_TOOLS_DIR: path.join(dir, 'cache'), HOME: path.join(dir, 'home') };
    expect(findTemporalCli(env)).toBe(onPath);
    expect(findTemporalCli({ ...env, TEMPORAL_CLI_PATH: explicit })).toBe(explicit);
  });

  test('a cached binary of another version is not taken for the pinned one', () => {
    executable(path.join(dir, 'cache', 'temporal-v0.0.1'));
    const found = findTemporalCli({ PATH: '', MLP_TOOLS_DIR: path.join(dir, 'cache'), HOME: path.join(dir, 'home') });
    expect(found === undefined || !found.startsWith(dir)).toBe(true);
  });
});
