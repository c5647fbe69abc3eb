import fs from 'node:fs';
import path from 'node:path';
import { featureColumns } from '../../lib/features/compute-features';
import { defineFeatureSet } from '../../lib/features/feature-set';
import { experimentSchema } from '../../lib/experiments/experiment';

const DIR = path.resolve(__dirname, '../../experiments');
const files = fs.readdirSync(DIR).filter((f) => f.endsWith('.json')).sort();

describe('shipped experiment files', () => {
  it('are there', () => {
    expect(files).toEqual(expect.arrayContaining(['sp500-direction.json', 'sp500-volatility-regime.json']));
  });

  it.each(files)('%s parses, and its feature set (if any) has uniquely named columns', (file) => {
    const parsed = experimentSchema.safeParse(JSON.parse(fs.readFileSync(path.join(DIR, file), 'utf8')));
    if (!parsed.success) throw new Error(`${file}: ${parsed.error.message}`);
    if (parsed.data.featureSet) {
      const columns = featureColumns(defineFeatureSet(parsed.data.featureSet));
      expect(new Set(columns).size).toBe(columns.length);
    }
  });
});
