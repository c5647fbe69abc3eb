/**
 * The features step's word on stored rows no key vouched for: the stage summary `mlp runs show`
 * prints and the feature_rows_tampered alert (critical for edits and forged rows, a warning for rows
 * only unsigned from before signing).
 */
import { tamperedRowsAlert, tamperedRowsSummary } from '../../lib/features/tampered-rows';

describe('feature rows the features step repaired or removed', () => {
  const version = 'fs-default-0';
  it('says nothing when there were none', () => {
    expect(tamperedRowsSummary({ version })).toBe('');
    expect(tamperedRowsAlert({ version })).toBeUndefined();
  });

  it('names symbols and dates, and is critical for an edit or a forged row', () => {
    const repaired = { version, rowsRepaired: 4, repaired: [{ symbol: 'ABT', problem: 'edited' as const, rows: 4, from: '2018-01-08', to: '2018-01-11' }] };
    expect(tamperedRowsSummary(repaired)).toBe('; 4 rows not vouched for by the key written again from the verified bars (ABT edited 2018-01-08..2018-01-11): feature_rows was written without MODEL_SIGNING_KEY');
    expect(tamperedRowsAlert(repaired)).toMatchObject({ rule: 'feature_rows_tampered', severity: 'critical', subject: `features ${version}`, evidence: { featureSet: version, repaired: repaired.repaired } });
    const forged = { version, rowsRemoved: 5, removed: [{ symbol: 'ZZZ', problem: 'unsigned' as const, rows: 5, dates: ['2015-03-09', '2015-03-10', '2015-03-11', '2015-03-12', '2015-03-13'] }] };
    expect(tamperedRowsSummary(forged)).toContain('5 rows no computation produces deleted as forged (ZZZ unsigned 2015-03-09, 2015-03-10, 2015-03-11, …)');
    expect(tamperedRowsAlert(forged)?.severity).toBe('critical');
  });

  it('is a warning for rows only unsigned (written before signing) or another key\'s, written again', () => {
    const upgrade = { version, rowsRepaired: 2, repaired: [{ symbol: 'ABT', problem: 'unsigned' as const, rows: 1, from: '2015-01-02', to: '2015-01-02' }, { symbol: 'MMM', problem: 'other_key' as const, rows: 1, from: '2015-01-02', to: '2015-01-02' }] };
    expect(tamperedRowsAlert(upgrade)?.severity).toBe('warning');
    expect(tamperedRowsSummary(upgrade)).toContain('(ABT unsigned 2015-01-02, MMM other_key 2015-01-02)');
  });
});
