import { issue } from '../../lib/quality/rules-catalog';
import { listQuarantine, QUARANTINE_MESSAGE_CHARS, QUARANTINE_RAW_CHARS, saveQuarantine } from '../../lib/store/quarantine';
import { DRIVERS, type TestDatabase } from '../helpers/databases';

describe.each(DRIVERS)('quarantine bounds on %s', (_driver, create) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await create();
  });
  afterAll(async () => {
    await t?.drop();
  });

  it('stores a 50 MB raw row and a huge message as bounded excerpts, at once and without retries', async () => {
    const raw = `2019-01-02,${'9'.repeat(50 * 2 ** 20)}`;
    const started = Date.now();
    await saveQuarantine(t.store, 'ds-big', [issue('line_too_long', { symbol: 'AAPL', date: null, source: '/x/aapl.us.csv', line: 2, message: `volume "${'8'.repeat(5 * 2 ** 20)}"`, raw })]);
    expect(Date.now() - started).toBeLessThan(5000);
    const [q] = await listQuarantine(t.store, { snapshotId: 'ds-big' });
    expect(q.raw?.length).toBeLessThanOrEqual(QUARANTINE_RAW_CHARS);
    expect(q.raw).toMatch(/^2019-01-02,9+…\(\+\d+ chars\)$/);
    expect(q.message.length).toBeLessThanOrEqual(QUARANTINE_MESSAGE_CHARS);
  });

  it('escapes control characters in raw, message and source; drops a symbol or date that does not fit', async () => {
    await saveQuarantine(t.store, 'ds-esc', [
      issue('non_numeric', {
        symbol: 'A'.repeat(40),
        date: '2019-01-02; DROP',
        source: '/x/evil\n\u001b[2Jname.csv',
        line: 3,
        message: 'close "\u001b[31mred" is not a number',
        raw: '2019-01-02,1,2,1,\u001b[31mred\r\n,10',
      }),
    ]);
    const [q] = await listQuarantine(t.store, { snapshotId: 'ds-esc' });
    expect(q).toMatchObject({
      symbol: null,
      date: null,
      source: '/x/evil\\n\\x1b[2Jname.csv',
      message: 'close "\\x1b[31mred" is not a number',
      raw: '2019-01-02,1,2,1,\\x1b[31mred\\r\\n,10',
    });
  });

  it('keeps saving the same findings idempotent', async () => {
    const findings = [issue('missing_field', { symbol: 'AAPL', date: '2019-01-02', source: '/x/a.csv', line: 4, message: 'close is empty or null', raw: '2019-01-02,1,2,1,,10' })];
    await saveQuarantine(t.store, 'ds-same', findings);
    await saveQuarantine(t.store, 'ds-same', findings);
    expect(await listQuarantine(t.store, { snapshotId: 'ds-same' })).toHaveLength(1);
  });
});
