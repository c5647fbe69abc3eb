import fs from 'node:fs';
import path from 'node:path';
import { experimentSchema } from '../../lib/experiments/experiment';
import { DEFAULT_FEATURE_SET, defineFeatureSet } from '../../lib/features/feature-set';
import { importRequestSchema } from '../../lib/ingest/import-request';
import { droppedKeys, refuseUnknownKeys } from '../../lib/unknown-keys';
import { BadInputError } from '../../lib/errors';
import { readExperimentFile } from '../../client/commands/run-pipeline';
import os from 'node:os';
import { resolveStreamFeatureSets } from '../../lib/streaming/feature-sets';
import type { Database } from '../../lib/store/database';

const experimentsDir = path.join(__dirname, '../../experiments');
const checkedExperiment = (raw: unknown) => refuseUnknownKeys(raw, experimentSchema.parse(raw), 'the experiment');
const base = { name: 'typo', algorithms: [{ algorithm: 'random_forest', space: { nEstimators: 10 } }] };

describe('unknown settings in outside input', () => {
  it.each(fs.readdirSync(experimentsDir).filter((f) => f.endsWith('.json')))('accepts the shipped experiment %s, and its parsed value again (a retrain from lineage re-reads it)', (file) => {
    const raw: unknown = JSON.parse(fs.readFileSync(path.join(experimentsDir, file), 'utf8'));
    expect(() => checkedExperiment(raw)).not.toThrow();
    const stored: unknown = JSON.parse(JSON.stringify(experimentSchema.parse(raw)));
    expect(() => checkedExperiment(stored)).not.toThrow();
  });

  it('names every misspelt key of an experiment, at any depth and inside arrays, instead of running with the defaults', () => {
    const raw = {
      ...base,
      label: { kind: 'direction', horizon: 5, horizn: 3 },
      algorithms: [{ algorithm: 'random_forest', space: {}, trails: 5, rows: { trail: 500 } }],
      search: { paralelism: 4 },
      cv: { folds: 5, embargo: 20 },
      import: { source: { kind: 'csv', path: '/data', adjst: true } },
      guards: { pointInTime: { row: 50 } },
    };
    expect(experimentSchema.safeParse(raw).success).toBe(true); // zod alone drops them silently
    let error: unknown;
    try {
      checkedExperiment(raw);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(BadInputError);
    expect((error as BadInputError).code).toBe('INVALID_INPUT');
    expect((error as Error).message).toBe(
      'the experiment has unknown settings, which would be ignored and their defaults used instead (misspelt, or not settings of this version): algorithms.0.trails, algorithms.0.rows.trail, label.horizn, search.paralelism, cv.embargo, import.source.adjst, guards.pointInTime.row',
    );
  });

  it('the CLI refuses an experiment file with a misspelt key before any run starts, naming the file and the key', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mlp-typo-')), 'typo.json');
    fs.writeFileSync(file, JSON.stringify({ ...base, walkForward: { evaluationDays: 60, retrainDayz: 5 } }));
    expect(() => readExperimentFile(file)).toThrow(`experiment ${file} has unknown settings, which would be ignored and their defaults used instead (misspelt, or not settings of this version): walkForward.retrainDayz`);
    fs.writeFileSync(file, JSON.stringify({ ...base, walkForward: { evaluationDays: 60, retrainDays: 5 } }));
    expect(readExperimentFile(file).walkForward).toEqual({ evaluationDays: 60, retrainDays: 5 });
  });

  it('refuses a misspelt feature setting wherever a feature set is defined (files, experiments, stored rows)', () => {
    expect(() => defineFeatureSet({ ...DEFAULT_FEATURE_SET, features: [{ kind: 'rsi', windw: 7 } as never] })).toThrow('the feature set has unknown settings, which would be ignored and their defaults used instead (misspelt, or not settings of this version): features.0.windw');
    expect(() => defineFeatureSet({ ...DEFAULT_FEATURE_SET, universes: ['etf'] } as never)).toThrow('universes');
    expect(() => defineFeatureSet(DEFAULT_FEATURE_SET)).not.toThrow();
  });

  it('the stream consumer refuses a feature-set file with a misspelt key', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mlp-fs-typo-')), 'set.json');
    fs.writeFileSync(file, JSON.stringify({ name: 'typo', features: [{ kind: 'rsi', windw: 7 }] }));
    await expect(resolveStreamFeatureSets({} as Database, [file])).rejects.toThrow(`feature set file ${file} is invalid: the feature set has unknown settings, which would be ignored and their defaults used instead (misspelt, or not settings of this version): features.0.windw`);
  });

  it('accepts an import request that parsing has already moved instruments into (the recorded form), and refuses instruments put in the source by hand', () => {
    const recorded: unknown = JSON.parse(JSON.stringify(importRequestSchema.parse({ source: { kind: 'csv', path: '/data' }, instruments: { SPY: 'etf' } })));
    expect(() => refuseUnknownKeys(recorded, importRequestSchema.parse(recorded), 'the import request')).not.toThrow();
    const byHand = { source: { kind: 'csv', path: '/data', instruments: { SPY: 'etf' } } };
    expect(() => refuseUnknownKeys(byHand, importRequestSchema.parse(byHand), 'the import request')).toThrow('source.instruments');
  });

  it('compares objects only: values of records, arrays of numbers and dates are not keys', () => {
    expect(droppedKeys({ a: [1, 2, { b: 1, c: 2 }], d: { x: 1 } }, { a: [1, 2, { b: 1 }], d: { x: 1, y: 2 } })).toEqual([['a', 2, 'c']]);
    expect(droppedKeys({ a: 1 }, undefined)).toEqual([]);
    expect(droppedKeys([{ a: 1 }, { b: 1 }], [{ a: 1 }])).toEqual([]);
  });
});
