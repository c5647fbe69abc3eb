/**
 * The row signature's canonical encoding (key order, numbers as JavaScript writes them, undefined
 * left out, non-JSON refused), what the signature covers (every registration field, not the keys a
 * run report adds to the lineage), and MODEL_SIGNING_KEY's validation at load.
 */
import crypto from 'node:crypto';
import { ConfigError, loadConfig, printableConfig } from '../../lib/config';
import { canonicalEncoding, profileRecordCheck, reportRecordCheck, reportRecordProblem, ROW_SIGNATURE_SCHEME, rowSignatureCheck, rowSignatureProblem, signedRowText, signingKeyId, signProfileRecord, signReportRecord, signRow, type SignedRowFields } from '../../lib/registry/row-signature';

const KEY = 'a-test-signing-key-of-32-chars!!';
const OTHER_KEY = 'another-test-signing-key-32chars';

function row(overrides: Partial<SignedRowFields> = {}): SignedRowFields {
  return {
    name: 'direction-5d',
    version: 3,
    artifactSha256: 'e'.repeat(64),
    artifactBytes: 1234,
    algorithm: 'logistic_regression',
    params: { C: 0.5, maxIterations: 200 },
    seed: 7,
    featureSetVersion: 'fs-1',
    label: { kind: 'direction', horizon: 5 },
    snapshotId: 'snap-1',
    snapshotHash: 'f'.repeat(64),
    codeVersion: 'abc123',
    workflowId: 'wf',
    runId: 'run',
    registrationKey: 'wf/run/logistic_regression',
    metrics: { cv: { auc: 0.61 } },
    lineage: { datasetId: 'ds-1', experiment: { name: 'direction-5d' } },
    createdAt: '2026-01-02T03:04:05.678Z',
    ...overrides,
  };
}

describe('canonicalEncoding', () => {
  it('sorts keys at every level, whatever order they were written in; arrays keep theirs', () => {
    const a = { b: 1, a: { y: [3, 1, 2], x: 'x' }, c: null };
    const b = { c: null, a: { x: 'x', y: [3, 1, 2] }, b: 1 };
    expect(canonicalEncoding(a)).toBe('{"a":{"x":"x","y":[3,1,2]},"b":1,"c":null}');
    expect(canonicalEncoding(b)).toBe(canonicalEncoding(a));
    expect(canonicalEncoding([2, 1])).not.toBe(canonicalEncoding([1, 2]));
    // Integer-like keys sort as text too (JavaScript enumerates them first, numerically).
    expect(canonicalEncoding({ b: 1, 10: 'x', 9: 'y' })).toBe('{"10":"x","9":"y","b":1}');
  });

  it('writes numbers in their shortest round-trip form, as read back from stored JSON', () => {
    expect(canonicalEncoding({ n: 1.0 })).toBe('{"n":1}');
    expect(canonicalEncoding(-0)).toBe('0');
    expect(canonicalEncoding(0.1 + 0.2)).toBe('0.30000000000000004');
    expect(canonicalEncoding(1e21)).toBe('1e+21');
    expect(canonicalEncoding(5e-7)).toBe('5e-7');
    expect(canonicalEncoding(2 ** 53 + 2)).toBe('9007199254740994');
    for (const value of [0.5, 1e-4, 123456.789, 1e300, -2.5e-12]) expect(canonicalEncoding(JSON.parse(JSON.stringify({ v: value })))).toBe(canonicalEncoding({ v: value }));
    // A number and its text differ.
    expect(canonicalEncoding({ C: 0.5 })).not.toBe(canonicalEncoding({ C: '0.5' }));
  });

  it('leaves out undefined keys as JSON does, and refuses what JSON cannot hold', () => {
    expect(canonicalEncoding({ a: 1, b: undefined })).toBe('{"a":1}');
    expect(canonicalEncoding([undefined])).toBe('[null]');
    expect(canonicalEncoding('é"\n')).toBe(JSON.stringify('é"\n'));
    for (const bad of [NaN, Infinity, -Infinity]) expect(() => canonicalEncoding({ x: bad })).toThrow(/is not a JSON number/);
    expect(() => canonicalEncoding({ x: 1n })).toThrow('a value of type bigint is not JSON');
    expect(() => canonicalEncoding(undefined)).toThrow('a value of type undefined is not JSON');
  });
});

describe('the signed text and the signature', () => {
  it('is the scheme and the covered fields, independent of the order of the row\'s keys and of its JSON fields\' keys', () => {
    const r = row();
    const reordered = Object.fromEntries(Object.entries(row({ params: { maxIterations: 200, C: 0.5 }, label: { horizon: 5, kind: 'direction' } })).reverse()) as unknown as SignedRowFields;
    expect(signedRowText(reordered)).toBe(signedRowText(r));
    expect(signedRowText(r).startsWith(`${ROW_SIGNATURE_SCHEME}\n{"algorithm":"logistic_regression","artifactBytes":1234,"artifactSha256":"eee`)).toBe(true);
    // Fields that are not covered (a ModelVersion's signature itself) do not enter it.
    expect(signedRowText({ ...r, signature: { keyId: 'x', mac: 'y' } } as SignedRowFields)).toBe(signedRowText(r));
  });

  it('changes with every covered field, not with the keys a run report adds to the lineage', () => {
    const base = signRow(KEY, row());
    const edits: Array<Partial<SignedRowFields>> = [
      { name: 'other' }, { version: 4 }, { artifactSha256: 'd'.repeat(64) }, { artifactBytes: 1235 }, { algorithm: 'majority' },
      { params: { C: 1, maxIterations: 200 } }, { params: { C: 0.5 } }, { seed: 8 }, { featureSetVersion: 'fs-2' }, { label: { kind: 'direction', horizon: 20 } },
      { snapshotId: null }, { snapshotHash: 'e'.repeat(64) }, { codeVersion: 'def456' }, { workflowId: null }, { runId: 'run-2' },
      { registrationKey: 'other' }, { metrics: { cv: { auc: 0.9 } } }, { lineage: { datasetId: 'ds-2', experiment: { name: 'direction-5d' } } },
      { lineage: { datasetId: 'ds-1', experiment: { name: 'direction-5d' }, warmStartedFrom: { version: 1 } } }, { createdAt: '2026-01-02T03:04:05.679Z' },
    ];
    for (const edit of edits) expect({ edit, mac: signRow(KEY, row(edit)).mac }).not.toEqual({ edit, mac: base.mac });
    const reported = row({ lineage: { ...row().lineage, report: { path: 'r.html', sha256: 'a'.repeat(64), bytes: 1, generatedAt: 'now' }, promotion: { promote: true, reason: 'x' }, datasetGuards: [] } });
    expect(signRow(KEY, reported)).toEqual(base);
  });

  it('names its key by the first 8 hex digits of the key\'s sha256, and differs by key', () => {
    expect(signingKeyId(KEY)).toBe(crypto.createHash('sha256').update(KEY).digest('hex').slice(0, 8));
    const r = row();
    expect(signRow(KEY, r)).toEqual({ keyId: signingKeyId(KEY), mac: crypto.createHmac('sha256', KEY).update(signedRowText(r)).digest('hex') });
    expect(signRow(OTHER_KEY, r).mac).not.toBe(signRow(KEY, r).mac);
  });

  it('says why a row is not bound: no signature, an edit under a key it holds, or another key (naming both key ids)', () => {
    const r = row();
    expect(rowSignatureProblem(KEY, { ...r, signature: signRow(KEY, r) })).toBeUndefined();
    expect(rowSignatureProblem(KEY, r)).toBe('the registry row has no signature: it was registered without the signing key or the signature was removed; sign it with `mlp models sign direction-5d 3 --accept-edit` after checking it');
    expect(rowSignatureProblem(KEY, { ...r, signature: signRow(OTHER_KEY, r) })).toBe(
      `the registry row is signed with another key (key id ${signingKeyId(OTHER_KEY)}), neither this deployment's MODEL_SIGNING_KEY (key id ${signingKeyId(KEY)}) nor one of its MODEL_SIGNING_PREVIOUS_KEYS: a key rotation gives every process the new key, with the old one in MODEL_SIGNING_PREVIOUS_KEYS, before anything is re-signed (docs/operations.md); otherwise it was edited (a stored key id is no proof: whoever edits it can write one)`,
    );
    expect(rowSignatureProblem(KEY, { ...row({ seed: 8 }), signature: signRow(KEY, r) })).toBe(`the registry row's signature does not match it: the registry row was edited after registration (its signature names key id ${signingKeyId(KEY)}, which this deployment holds, and is not that key's)`);
    expect(rowSignatureProblem(KEY, { ...r, signature: { keyId: signingKeyId(KEY), mac: 'zz' } })).toContain('does not match');
    // Another key's MAC under this key's id: the id picks the key, the MAC must be that key's.
    expect(rowSignatureProblem(KEY, { ...r, signature: { ...signRow(OTHER_KEY, r), keyId: signingKeyId(KEY) } })).toContain('was edited after registration');
  });

  it('refuses, never throws on, a row holding a value no registration writes (1e999 read back from stored JSON as Infinity)', () => {
    const r = row();
    const edited = { ...row({ metrics: JSON.parse('{"cv":{"auc":0.91},"x":1e999}') as Record<string, unknown> }), signature: signRow(KEY, r) };
    expect(() => rowSignatureProblem(KEY, edited)).not.toThrow();
    expect(rowSignatureProblem(KEY, edited)).toBe("the registry row's signature does not match it: the row holds a value registration never writes (canonicalEncoding: Infinity is not a JSON number), so it was edited after registration");
    // The report record's check alike.
    const lineage = { ...r.lineage, report: { auc: 0.6 } };
    const recorded = { ...r, lineage: { ...lineage, reportSignature: signReportRecord(KEY, { ...r, lineage }) } };
    expect(reportRecordProblem(KEY, recorded)).toBeUndefined();
    expect(reportRecordProblem(KEY, { ...recorded, lineage: { ...recorded.lineage, report: { auc: -Infinity } } })).toMatch(/does not match them: they hold a value no recording writes \(canonicalEncoding: -Infinity is not a JSON number\)/);
  });
});

describe('a key rotation (MODEL_SIGNING_PREVIOUS_KEYS)', () => {
  const NEW_KEY = 'the-new-signing-key-of-32-chars!';
  const UNKNOWN_KEY = 'a-key-nobody-gave-this-process!!';
  const rotating = { signingKey: NEW_KEY, previousKeys: [KEY] };

  it('verifies what a previous key signed, saying which key, and what the current key signed as before', () => {
    const r = row();
    // Before: verification never read the previous keys, so every row the old key signed was refused the moment a process got the new key.
    expect(rowSignatureCheck(rotating, { ...r, signature: signRow(KEY, r) })).toEqual({ previousKeyId: signingKeyId(KEY) });
    expect(rowSignatureProblem(rotating, { ...r, signature: signRow(KEY, r) })).toBeUndefined();
    expect(rowSignatureCheck(rotating, { ...r, signature: signRow(NEW_KEY, r) })).toEqual({});
    // A process not yet given the new key (old key current, new one accepted beside it) verifies rows either key signed.
    expect(rowSignatureCheck({ signingKey: KEY, previousKeys: [NEW_KEY] }, { ...r, signature: signRow(NEW_KEY, r) })).toEqual({ previousKeyId: signingKeyId(NEW_KEY) });
  });

  it('still refuses a row edited since a previous key signed it, and a key that is neither current nor previous', () => {
    const r = row();
    expect(rowSignatureProblem(rotating, { ...row({ params: { C: 9 } }), signature: signRow(KEY, r) })).toBe(`the registry row's signature does not match it: the registry row was edited after registration (its signature names key id ${signingKeyId(KEY)}, which this deployment holds, and is not that key's)`);
    expect(rowSignatureProblem(rotating, { ...r, signature: signRow(UNKNOWN_KEY, r) })).toMatch(new RegExp(`^the registry row is signed with another key \\(key id ${signingKeyId(UNKNOWN_KEY)}\\), neither this deployment's MODEL_SIGNING_KEY \\(key id ${signingKeyId(NEW_KEY)}\\) nor one of its MODEL_SIGNING_PREVIOUS_KEYS`));
    // Without the previous key the old key's row is another key's: refused as before.
    expect(rowSignatureProblem(NEW_KEY, { ...r, signature: signRow(KEY, r) })).toContain(`signed with another key (key id ${signingKeyId(KEY)})`);
  });

  it('verifies report records and reference profiles the previous key signed alike', () => {
    const r = row();
    const lineage = { ...r.lineage, report: { auc: 0.6 } };
    const recorded = { ...r, lineage: { ...lineage, reportSignature: signReportRecord(KEY, { ...r, lineage }) } };
    expect(reportRecordCheck(rotating, recorded)).toEqual({ previousKeyId: signingKeyId(KEY) });
    expect(reportRecordCheck(rotating, { ...recorded, lineage: { ...recorded.lineage, report: { auc: 0.9 } } }).problem).toContain('they were edited (or moved from another version) after they were recorded (its signature names key id');
    expect(reportRecordCheck({ signingKey: NEW_KEY }, recorded).problem).toContain(`are signed with another key (key id ${signingKeyId(KEY)})`);
    const text = '{"profile":1}';
    expect(profileRecordCheck(rotating, r, text, signProfileRecord(KEY, r, text))).toEqual({ previousKeyId: signingKeyId(KEY) });
    expect(profileRecordCheck(rotating, r, '{"profile":2}', signProfileRecord(KEY, r, text)).problem).toContain('the profile was edited');
    expect(profileRecordCheck(rotating, r, text, signProfileRecord(UNKNOWN_KEY, r, text)).problem).toContain(`is signed with another key (key id ${signingKeyId(UNKNOWN_KEY)})`);
  });

  it('is refused without MODEL_SIGNING_KEY, where it would verify nothing', () => {
    expect(loadConfig({ MODEL_SIGNING_KEY: NEW_KEY, MODEL_SIGNING_PREVIOUS_KEYS: `${KEY}, ${OTHER_KEY}` }).modelSigningPreviousKeys).toEqual([KEY, OTHER_KEY]);
    expect(() => loadConfig({ MODEL_SIGNING_PREVIOUS_KEYS: KEY })).toThrow('MODEL_SIGNING_PREVIOUS_KEYS=(secret, not shown): set without MODEL_SIGNING_KEY');
  });
});

describe('MODEL_SIGNING_KEY', () => {
  it('is optional; a key of fewer than 32 characters is refused at load, without echoing it', () => {
    expect(loadConfig({}).modelSigningKey).toBeUndefined();
    expect(loadConfig({ MODEL_SIGNING_KEY: '' }).modelSigningKey).toBeUndefined();
    expect(loadConfig({ MODEL_SIGNING_KEY: KEY }).modelSigningKey).toBe(KEY);
    let error: unknown;
    try {
      loadConfig({ MODEL_SIGNING_KEY: 'too-short-a-secret' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message.split('\n').slice(1)).toEqual(['  MODEL_SIGNING_KEY=(secret, not shown): expected at least 32 characters: a random secret, e.g. `openssl rand -hex 32`']);
    expect((error as Error).message).not.toContain('too-short-a-secret');
  });

  it('is never printed with the configuration', () => {
    const printed = JSON.stringify(printableConfig(loadConfig({ MODEL_SIGNING_KEY: KEY })));
    expect(printed).not.toContain(KEY);
    expect(printed).toContain('"modelSigningKey":"(redacted)"');
  });
});
