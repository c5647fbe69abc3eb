import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkLocalSource, readExperimentFile, requestFromFlags } from '../../client/commands/run-pipeline';
import { importRequestSchema } from '../../lib/ingest/import-request';

describe('CLI symbol flags', () => {
  it("--symbols '$VIX,AAPL' parses: $ series are symbols", () => {
    const { request } = requestFromFlags({ source: 'data.csv', symbols: '$VIX,AAPL' });
    expect(request?.symbols).toEqual(['$VIX', 'AAPL']);
    expect(importRequestSchema.parse(request).symbols).toEqual(['$VIX', 'AAPL']);
  });

  it('--stooq takes ^ indices; a bad item is named with its flag', () => {
    expect(requestFromFlags({ stooq: '^spx, aapl' }).request?.source).toMatchObject({ kind: 'stooq', symbols: ['^SPX', 'AAPL'] });
    expect(() => requestFromFlags({ source: 'data.csv', symbols: 'AAPL,../etc' })).toThrow(/^--symbols: "\.\.\/etc": expected a symbol/);
  });

  it('--follow-links is the only way to read symbolic links; without it they are refused', () => {
    expect(requestFromFlags({ source: 'data' }).request?.source).toMatchObject({ kind: 'csv', followLinks: false });
    expect(requestFromFlags({ source: 'data', followLinks: true }).request?.source).toMatchObject({ kind: 'csv', followLinks: true });
  });

  it('an s3:// source passes through as given: not resolved against this folder, not checked on this disk', () => {
    expect(requestFromFlags({ source: 's3://prices/daily' }).request?.source).toMatchObject({ kind: 'csv', path: 's3://prices/daily' });
    expect(() => checkLocalSource(requestFromFlags({ source: 's3://prices/daily' }).request)).not.toThrow();
    expect(() => checkLocalSource(requestFromFlags({ source: 'no-such-folder-here' }).request)).toThrow(/does not exist; no run was started/);
    expect(() => requestFromFlags({ source: 's3://' })).toThrow(/bucket/);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlp-exp-'));
    const file = path.join(dir, 'e.json');
    const experiment = JSON.parse(fs.readFileSync(path.join(__dirname, '../../experiments/demo.json'), 'utf8')) as { import?: unknown };
    fs.writeFileSync(file, JSON.stringify({ ...experiment, import: { source: { kind: 'csv', path: 's3://prices/daily/' } } }));
    expect(readExperimentFile(file).import?.source).toMatchObject({ path: 's3://prices/daily/' });
    fs.writeFileSync(file, JSON.stringify({ ...experiment, import: { source: { kind: 'csv', path: 'data' } } }));
    expect(readExperimentFile(file).import?.source).toMatchObject({ path: path.join(dir, 'data') });
  });

  it('refuses import flags an --experiment with its own import would not read, instead of dropping them', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlp-flags-'));
    const file = path.join(dir, 'exp.json');
    const experiment = JSON.parse(fs.readFileSync(path.join(__dirname, '../../experiments/demo.json'), 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(file, JSON.stringify({ ...experiment, import: { source: { kind: 'csv', path: 'data' } } }));
    expect(() => requestFromFlags({ experiment: file, symbols: 'SYN01,SYN02', from: '2019-01-01', maxBadRowShare: 0.5 })).toThrow(/^--symbols, --from, --max-bad-row-share: the run imports what .*exp\.json's "import" says, so these flags would not apply/);
    expect(requestFromFlags({ experiment: file }).experiment).toBeDefined();
    // With --source the flags build the import, as before.
    expect(requestFromFlags({ experiment: file, source: dir, symbols: 'SYN01' }).request?.symbols).toEqual(['SYN01']);
  });

  it('with --source, the experiment the run records imports what the flags say, not the source it ignored', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlp-lineage-'));
    const file = path.join(dir, 'exp.json');
    const experiment = JSON.parse(fs.readFileSync(path.join(__dirname, '../../experiments/demo.json'), 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(file, JSON.stringify({ ...experiment, import: { source: { kind: 'csv', path: 'elsewhere' } } }));
    const { request, experiment: sent } = requestFromFlags({ experiment: file, source: dir, symbols: 'SYN01' });
    expect(sent?.import).toEqual(request);
    expect(JSON.stringify(sent)).not.toContain('elsewhere');
    // An experiment without an import is sent as written.
    fs.writeFileSync(file, JSON.stringify({ ...experiment, import: undefined }));
    expect(requestFromFlags({ experiment: file, source: dir }).experiment?.import).toBeUndefined();
  });
});
