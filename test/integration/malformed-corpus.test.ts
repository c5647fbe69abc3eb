/**
 * Every case of the malformed-file corpus through importBars on each store: the outcome
 * (published, rejected by the gate, or failed as unreadable), a message naming the cause, and
 * that nothing but quarantine findings and the snapshot record is written for a refused import
 * (the published bars, what readers see, stay exactly as they were).
 */
import fs from 'node:fs';
import { BadInputError } from '../../lib/errors';
import { importBars } from '../../lib/ingest/import-bars';
import { importRequestSchema } from '../../lib/ingest/import-request';
import { QUARANTINE_MESSAGE_CHARS, QUARANTINE_RAW_CHARS } from '../../lib/store/quarantine';
import { getSnapshot } from '../../lib/store/snapshots';
import { DRIVERS, tempDir, type TestDatabase } from '../helpers/databases';
import { buildMalformedCorpus, type CorpusCase, type CorpusOutcome } from '../helpers/malformed-corpus';

interface Observed {
  outcome: CorpusOutcome;
  /** The thrown error's message, or the gate's reasons. */
  message: string;
  nonRetryable: boolean;
  snapshotId: string | null;
  rowsAccepted: number;
  barsBefore: unknown[];
  barsAfter: unknown[];
  quarantineBefore: number;
  quarantineAfter: Array<{ snapshot_id: string; rule: string; raw: string | null; message: string; source: string }>;
  snapshotsBefore: number;
  snapshotsAfter: number;
}

let root: string;
let corpus: CorpusCase[];

beforeAll(async () => {
  root = tempDir('mlp-corpus-');
  corpus = await buildMalformedCorpus(root);
});

afterAll(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

const bars = (t: TestDatabase) => t.store.db.selectFrom('bars').selectAll().orderBy('symbol').orderBy('date').execute();

async function importCase(t: TestDatabase, c: CorpusCase): Promise<Observed> {
  const barsBefore = await bars(t);
  const quarantineBefore = (await t.store.db.selectFrom('quarantine').select('issue_key').execute()).length;
  const snapshotsBefore = (await t.store.db.selectFrom('dataset_snapshots').select('id').execute()).length;
  let outcome: CorpusOutcome;
  let message: string;
  let nonRetryable = false;
  let snapshotId: string | null = null;
  let rowsAccepted = 0;
  try {
    const summary = await importBars(t.store, importRequestSchema.parse({ source: { kind: 'csv', path: c.source } }));
    snapshotId = summary.snapshotId;
    rowsAccepted = summary.rowsAccepted;
    const snapshot = await getSnapshot(t.store, summary.snapshotId);
    outcome = snapshot?.status === 'published' ? 'accepted' : 'rejected';
    message = snapshot?.statusReason ?? '';
  } catch (error) {
    outcome = 'unreadable';
    message = (error as Error).message;
    nonRetryable = error instanceof BadInputError;
  }
  const quarantineAfter = await t.store.db.selectFrom('quarantine').select(['snapshot_id', 'rule', 'raw', 'message', 'source']).execute();
  const snapshotsAfter = (await t.store.db.selectFrom('dataset_snapshots').select('id').execute()).length;
  return { outcome, message, nonRetryable, snapshotId, rowsAccepted, barsBefore, barsAfter: await bars(t), quarantineBefore, quarantineAfter, snapshotsBefore, snapshotsAfter };
}

describe.each(DRIVERS)('malformed-file corpus through importBars on %s', (_driver, create) => {
  let t: TestDatabase;
  const seen = new Map<string, Observed>();

  beforeAll(async () => {
    t = await create();
    for (const c of corpus) seen.set(c.name, await importCase(t, c));
  });
  afterAll(async () => {
    await t?.drop();
  });

  it('covers at least the 20 listed cases and 5 more', () => {
    expect(corpus.length).toBeGreaterThanOrEqual(25);
    expect(new Set(corpus.map((c) => c.name)).size).toBe(corpus.length);
  });

  it('ends every case in its expected outcome with a message naming the cause', () => {
    const got = corpus.map((c) => {
      const o = seen.get(c.name) as Observed;
      return { name: c.name, outcome: o.outcome, named: c.message === undefined || c.message.test(o.message) ? 'ok' : o.message };
    });
    expect(got).toEqual(corpus.map((c) => ({ name: c.name, outcome: c.outcome, named: 'ok' })));
  });

  it('fails unreadable sources non-retryably and writes nothing at all for them', () => {
    for (const c of corpus.filter((k) => k.outcome === 'unreadable')) {
      const o = seen.get(c.name) as Observed;
      expect({ name: c.name, nonRetryable: o.nonRetryable, barsChanged: o.barsAfter.length !== o.barsBefore.length }).toEqual({ name: c.name, nonRetryable: true, barsChanged: false });
      expect(o.barsAfter).toEqual(o.barsBefore);
      expect(o.quarantineAfter).toHaveLength(o.quarantineBefore);
      expect(o.snapshotsAfter).toBe(o.snapshotsBefore);
    }
  });

  it('leaves the published bars untouched for cases the gate rejects; only findings and the snapshot record are written', () => {
    for (const c of corpus.filter((k) => k.outcome === 'rejected')) {
      const o = seen.get(c.name) as Observed;
      expect({ name: c.name, barsAfter: o.barsAfter.length }).toEqual({ name: c.name, barsAfter: o.barsBefore.length });
      expect(o.barsAfter).toEqual(o.barsBefore);
      expect(o.snapshotsAfter).toBe(o.snapshotsBefore + 1);
      const added = o.quarantineAfter.length - o.quarantineBefore;
      expect(added).toBe(o.quarantineAfter.filter((q) => q.snapshot_id === o.snapshotId).length);
    }
  });

  it('publishes exactly the accepted rows of the cases the gate passes', () => {
    for (const c of corpus.filter((k) => k.outcome === 'accepted')) {
      const o = seen.get(c.name) as Observed;
      expect({ name: c.name, rowsAccepted: o.rowsAccepted, added: o.barsAfter.length - o.barsBefore.length }).toEqual({ name: c.name, rowsAccepted: c.rowsAccepted, added: c.rowsAccepted });
    }
  });

  it('quarantines the findings each case is about', () => {
    for (const c of corpus.filter((k) => k.byRule)) {
      const o = seen.get(c.name) as Observed;
      const mine = o.quarantineAfter.filter((q) => q.snapshot_id === o.snapshotId);
      const counts = Object.fromEntries(Object.keys(c.byRule ?? {}).map((rule) => [rule, mine.filter((q) => q.rule === rule).length]));
      expect({ name: c.name, counts }).toEqual({ name: c.name, counts: c.byRule });
    }
  });

  it('stores only bounded, escaped excerpts: the 50 MB line, terminal escapes and symbols from files', () => {
    const all = seen.get(corpus[corpus.length - 1].name)?.quarantineAfter ?? [];
    expect(all.length).toBeGreaterThan(0);
    for (const q of all) {
      expect(q.raw === null || q.raw.length <= QUARANTINE_RAW_CHARS).toBe(true);
      expect(q.message.length).toBeLessThanOrEqual(QUARANTINE_MESSAGE_CHARS);
      // eslint-disable-next-line no-control-regex -- no control character may reach the store
      expect(`${q.raw ?? ''}${q.message}${q.source}`).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f\u2028\u2029]/);
      expect(q.raw ?? '').not.toMatch(/\n/);
    }
    const long = all.find((q) => q.rule === 'line_too_long');
    expect(long?.raw).toMatch(/^x+…\(\+\d+ chars\)$/);
    expect(long?.message).toBe('line is 52,428,800 characters long, the limit is 10,000');
    const ansi = all.find((q) => q.rule === 'non_numeric' && q.raw?.includes('PWNED'));
    expect(ansi?.raw).toContain('\\x1b[2J\\x1b[31mPWNED\\x07');
    // Nothing of the linked file outside the folder is anywhere in the store.
    expect(JSON.stringify(all)).not.toContain('notarealhash');
  });

  it('imports the corpus a second time without changing the store', async () => {
    const before = { bars: await bars(t), quarantine: (await t.store.db.selectFrom('quarantine').select('issue_key').execute()).length };
    for (const c of corpus) {
      const again = await importCase(t, c);
      expect({ name: c.name, outcome: again.outcome }).toEqual({ name: c.name, outcome: c.outcome });
    }
    expect(await bars(t)).toEqual(before.bars);
    expect((await t.store.db.selectFrom('quarantine').select('issue_key').execute()).length).toBe(before.quarantine);
  });
});
