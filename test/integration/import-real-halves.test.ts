/**
 * Real bars imported in two halves, the second over the first (as a team catching up on months of
 * data does): WYNN's 129 sessions after 4 August 2017 were rejected as dated 5 sessions early, on
 * Pearson's correlation with the market (its −10% and −9% of 26 and 29 January 2018 against the
 * market's fall a week later), and the whole import failed. Judged on ranks they pass; the same
 * half dated a session early is still rejected.
 */
import fs from 'node:fs';
import path from 'node:path';
import { importBars } from '../../lib/ingest/import-bars';
import { importRequestSchema } from '../../lib/ingest/import-request';
import { readBars } from '../../lib/store/bars';
import { createSqliteTestDatabase, hasSharedData, SHARED_SP500_DIR, tempDir, type TestDatabase } from '../helpers/databases';

const CUT = '2017-08-04';
const NOW = () => new Date('2018-03-01T00:00:00Z');

/** Every file (the market WYNN is judged against), rows kept by `keep`; `early`'s dates moved a session early. */
function folder(keep: (date: string) => boolean, early?: string): string {
  const dir = tempDir('mlp-real-halves-');
  const files = fs.readdirSync(SHARED_SP500_DIR).filter((f) => f.endsWith('.csv') && f !== 'WYNN.csv').sort();
  if (early !== undefined && !files.includes(`${early}.csv`)) throw new Error(`${early}.csv is not among the files of the test`);
  for (const f of [...files, 'WYNN.csv']) {
    const [header, ...rows] = fs.readFileSync(path.join(SHARED_SP500_DIR, f), 'utf8').trim().split('\n');
    const dated = f === `${early}.csv` ? rows.slice(1).map((r, i) => rows[i].slice(0, 10) + r.slice(10)) : rows;
    const kept = dated.filter((r) => keep(r.slice(0, 10)));
    if (kept.length > 0) fs.writeFileSync(path.join(dir, f), [header, ...kept].join('\n') + '\n');
  }
  return dir;
}
const request = (dir: string) => importRequestSchema.parse({ source: { kind: 'csv', path: dir }, quality: { minHistoryBars: 1 } });

(hasSharedData ? describe : describe.skip)('real bars imported in two halves (SQLite)', () => {
  let t: TestDatabase;
  beforeEach(async () => {
    t = await createSqliteTestDatabase();
  });
  afterEach(async () => {
    await t?.drop();
  });

  it("publishes WYNN's second half; a market-bound series' half dated a session early is still rejected (misdated_series)", async () => {
    expect((await importBars(t.store, request(folder((d) => d < CUT)), { now: NOW })).status).toBe('published');
    // (WYNN itself moved too little with the market in those months for a session's shift to show.)
    const early = await importBars(t.store, request(folder((d) => d >= CUT, 'AME')), { now: NOW });
    expect(early.status).toBe('rejected');
    expect(early.byRule.misdated_series).toBe(1);
    const second = await importBars(t.store, request(folder((d) => d >= CUT)), { now: NOW });
    expect(second.status).toBe('published');
    expect(second.byRule.misdated_series).toBeUndefined();
    expect((await readBars(t.store, { symbols: ['WYNN'], from: '2018-01-26', to: '2018-01-26' })).map((b) => b.close)).toEqual([180.29]);
    // Three imports of 382 real files: 110-124 s on a loaded 2-core machine, so 120 s was too close.
  }, 300_000);
});
