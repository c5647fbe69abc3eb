/**
 * Content-addressed files other than model artifacts (training datasets, walk-forward predictions,
 * derived files, run reports) written again with the same content: a stored copy that no longer
 * matches its id or sha256 (refused on read: "rebuild it") is replaced, so the rebuild the refusal
 * asks for repairs it; an intact copy is left untouched. Local directory here; the object store in
 * test/integration/object-store-artifacts.test.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { localArtifactStore, type ArtifactStore } from '../../../lib/artifacts/artifact-store';
import { fileDerived, readDerived } from '../../../lib/artifacts/derived-file';
import { readReportFile, reportBindingKey, reportKey, writeReportFile } from '../../../lib/reports/version-report';
import { readDataset, writeDataset } from '../../../lib/training/dataset';
import { readPredictions, writePredictions } from '../../../lib/training/walk-forward';
import { tempDir } from '../../helpers/databases';
import { predictionsForLastDays, syntheticTrainingDataset } from '../../helpers/training-dataset';

const damages: Array<[string, (file: string) => void]> = [
  ['a flipped byte', (file) => {
    const bytes = fs.readFileSync(file);
    bytes[Math.floor(bytes.length / 2)] ^= 0xff;
    fs.writeFileSync(file, bytes);
  }],
  ['a truncated file', (file) => fs.writeFileSync(file, fs.readFileSync(file).subarray(0, 20))],
  ['an empty file', (file) => fs.writeFileSync(file, Buffer.alloc(0))],
];

/** The file's mtime after a pause, so a rewrite would show. */
async function settled(file: string): Promise<number> {
  const mtime = fs.statSync(file).mtimeMs;
  await new Promise((r) => setTimeout(r, 20));
  return mtime;
}

describe('writing the same content again repairs a damaged stored file (local directory)', () => {
  let dir: string;
  let store: ArtifactStore;
  beforeEach(() => {
    dir = tempDir('mlp-file-repair-');
    store = localArtifactStore(dir);
  });

  it.each(damages)('a training dataset with %s is refused, then read back whole once rebuilt as prepareTrainingDataset writes it', async (_what, damage) => {
    const build = () => syntheticTrainingDataset({ symbols: 2, days: 60, seed: 3 });
    const { id, url } = await writeDataset(store, build());
    const intact = fs.readFileSync(url);
    damage(url);
    await expect(readDataset(store, id)).rejects.toThrow(/does not match its id: modified or corrupted; rebuild it/);
    const again = await writeDataset(store, build());
    expect([again.id, again.stored]).toEqual([id, 'replaced']);
    expect(fs.readFileSync(url).equals(intact)).toBe(true);
    const read = await readDataset(store, id);
    expect(read.values).toEqual(build().values);
    expect(fs.readdirSync(path.dirname(url)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('an intact dataset is not rewritten', async () => {
    const { id, url } = await writeDataset(store, syntheticTrainingDataset({ symbols: 2, days: 60, seed: 4 }));
    const before = await settled(url);
    expect((await writeDataset(store, syntheticTrainingDataset({ symbols: 2, days: 60, seed: 4 }))).stored).toBe('kept');
    expect(fs.statSync(url).mtimeMs).toBe(before);
    await expect(readDataset(store, id)).resolves.toBeDefined();
  });

  it.each(damages)('walk-forward predictions with %s are refused, then read back once written again; intact ones are not rewritten', async (_what, damage) => {
    const ds = syntheticTrainingDataset({ symbols: 2, days: 60, seed: 3 });
    const predictions = () => predictionsForLastDays(ds, 20, (r) => (r % 7) / 7);
    const id = await writePredictions(store, predictions());
    const file = path.join(dir, 'predictions', `${id}.mlpd`);
    damage(file);
    await expect(readPredictions(store, id)).rejects.toThrow(/does not match its id: modified or corrupted; rebuild it/);
    expect(await writePredictions(store, predictions())).toBe(id);
    expect((await readPredictions(store, id)).proba).toEqual(predictions().proba);
    const before = await settled(file);
    await writePredictions(store, predictions());
    expect(fs.statSync(file).mtimeMs).toBe(before);
  });

  it.each(damages)('a derived file with %s reads as undefined, then is filed again whole; an intact one is not rewritten', async (_what, damage) => {
    const keyOf = (sha: string) => `derived/${sha}.json`;
    const value = { psi: [0.1, 1 / 3, -0], name: 'profile' };
    const { sha256 } = await fileDerived(store, keyOf, value);
    const file = store.urlOf(keyOf(sha256));
    damage(file);
    expect(await readDerived(store, keyOf, sha256)).toBeUndefined();
    // The caller computes the value again and files it: the damaged copy is replaced.
    expect(await fileDerived(store, keyOf, value)).toEqual({ sha256 });
    expect(await readDerived(store, keyOf, sha256)).toEqual(value);
    const before = await settled(file);
    await fileDerived(store, keyOf, value);
    expect(fs.statSync(file).mtimeMs).toBe(before);
  });

  it('a run report whose HTML or sidecar was damaged is read again once written again; intact ones are not rewritten', async () => {
    const binding = { name: 'm', version: 1, artifactSha256: 'a'.repeat(64) };
    const html = `<html><head><meta name="mlp-report-model" content="m"><meta name="mlp-report-version" content="1"><meta name="mlp-report-artifact-sha256" content="${binding.artifactSha256}"></head><body>report</body></html>`;
    const { sha256 } = await writeReportFile(store, html);
    const page = store.urlOf(reportKey(sha256));
    const sidecar = store.urlOf(reportBindingKey(sha256));
    damages[0][1](page);
    await expect(readReportFile(store, sha256, binding)).rejects.toThrow(/does not match its sha256/);
    fs.writeFileSync(sidecar, fs.readFileSync(sidecar, 'utf8').replace('"version": 1', '"version": 2'));
    await writeReportFile(store, html);
    await expect(readReportFile(store, sha256, binding)).resolves.toBe(html);
    const before = [await settled(page), await settled(sidecar)];
    await writeReportFile(store, html);
    expect([fs.statSync(page).mtimeMs, fs.statSync(sidecar).mtimeMs]).toEqual(before);
  });
});
