/**
 * An experiment's universe.symbols names each symbol once, as the store spells it: a file listing one
 * twice is refused when read; inputs stored by earlier versions (a schedule's experiment, a champion's
 * lineage) are read with the repeats removed, so their retrains keep running.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { experimentSchema, repeatedSymbols } from '../../../lib/experiments/experiment';
import { readExperimentFile } from '../../../client/commands/run-pipeline';

const base = { name: 'x', label: { kind: 'direction', horizon: 5 }, algorithms: [{ algorithm: 'logistic_regression' }] };

describe('universe.symbols', () => {
  it('refuses an experiment file listing a symbol twice, also in other case or spelling, naming each duplicate', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'universe-')), 'e.json');
    fs.writeFileSync(file, JSON.stringify({ ...base, universe: { symbols: ['AAPL', 'aapl', 'MSFT', 'BRK.B', 'brk-b', 'AAPL'] } }));
    expect(() => readExperimentFile(file)).toThrow(`experiment ${file} is invalid: universe.symbols: AAPL (3 times), BRK.B (2 times) listed more than once (symbols are read in capitals, "-" as "."); give each symbol once`);
    expect(repeatedSymbols(['AAPL', 'MSFT'])).toBeUndefined();
  });

  it('reads a stored input with repeats once each, in their first order (a schedule made before the rule keeps running)', () => {
    expect(experimentSchema.parse({ ...base, universe: { symbols: ['BRK-B', 'AAPL', 'BRK.B', 'aapl'] } }).universe.symbols).toEqual(['BRK.B', 'AAPL']);
  });

  it('keeps a list of distinct symbols as given, normalised', () => {
    expect(experimentSchema.parse({ ...base, universe: { symbols: ['aapl', 'MSFT'] } }).universe.symbols).toEqual(['AAPL', 'MSFT']);
  });
});
