import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BadInputError } from '../../lib/errors';
import { decodeCsvBytes, readCsvFiles } from '../../lib/market-data/csv-files';
import { UnreadableSourceError } from '../../lib/market-data/csv-reader';
import { tempDir } from '../helpers/databases';

const CSV = 'Date,Open,High,Low,Close,Volume\n2019-01-02,1,2,1,2,10\n';

async function failure(run: Promise<unknown>): Promise<BadInputError> {
  const error = await run.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(BadInputError);
  return error as BadInputError;
}

describe('readCsvFiles', () => {
  let dir: string;
  let outside: string;
  beforeEach(() => {
    dir = tempDir('mlp-files-');
    outside = tempDir('mlp-outside-');
    fs.writeFileSync(path.join(outside, 'secret.txt'), 'root:$6$hash:19000:0:99999:7:::\n');
    fs.writeFileSync(path.join(dir, 'aapl.us.csv'), CSV);
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(outside, { recursive: true, force: true });
  });

  it('reads the .csv and .txt files of a folder in name order', async () => {
    fs.writeFileSync(path.join(dir, 'msft.us.txt'), CSV);
    fs.writeFileSync(path.join(dir, 'notes.md'), 'not read');
    const files = await readCsvFiles(dir);
    expect(files.map((f) => path.basename(f.source))).toEqual(['aapl.us.csv', 'msft.us.txt']);
    expect(files[0].text).toBe(CSV);
  });

  it('refuses a folder entry that links outside the folder, without reading it', async () => {
    fs.symlinkSync(path.join(outside, 'secret.txt'), path.join(dir, 'shadow.csv'));
    const error = await failure(readCsvFiles(dir));
    expect(error.code).toBe('SOURCE_REFUSED');
    expect(error.message).toContain('shadow.csv is a symbolic link, which may lead outside');
    expect(error.message).not.toContain('root:');
  });

  it('refuses a named file that is a link, and a link to a folder', async () => {
    fs.symlinkSync(path.join(outside, 'secret.txt'), path.join(dir, 'link.csv'));
    expect((await failure(readCsvFiles(path.join(dir, 'link.csv')))).code).toBe('SOURCE_REFUSED');
    fs.symlinkSync(outside, path.join(dir, 'folder-link'));
    expect((await failure(readCsvFiles(path.join(dir, 'folder-link')))).code).toBe('SOURCE_REFUSED');
  });

  it('reads links when the request says followLinks', async () => {
    fs.writeFileSync(path.join(outside, 'msft.us.csv'), CSV);
    fs.symlinkSync(path.join(outside, 'msft.us.csv'), path.join(dir, 'msft.us.csv'));
    expect((await readCsvFiles(dir, { followLinks: true })).map((f) => path.basename(f.source))).toEqual(['aapl.us.csv', 'msft.us.csv']);
  });

  it('refuses a named pipe and a folder called .csv instead of blocking or failing obscurely', async () => {
    fs.mkdirSync(path.join(dir, 'sub.csv'));
    expect((await failure(readCsvFiles(dir))).message).toContain('sub.csv is not a regular file');
    fs.rmdirSync(path.join(dir, 'sub.csv'));
    execFileSync('mkfifo', [path.join(dir, 'pipe.csv')]);
    expect((await failure(readCsvFiles(dir))).message).toContain('pipe.csv is not a regular file');
  });

  it('fails an undecodable file with the encoding found', async () => {
    fs.writeFileSync(path.join(dir, 'latin.us.csv'), Buffer.from('Date,Open,High,Low,Close,Volume,Nom\n2019-01-02,1,2,1,2,10,Hôtel\n', 'latin1'));
    const error = await failure(readCsvFiles(dir));
    expect(error).toBeInstanceOf(UnreadableSourceError);
    expect(error.message).toMatch(/latin\.us\.csv as a price table: it is not valid UTF-8 \(byte 0xf4 at offset \d+, line 2\); byte 0xf4 is "ô" in Latin-1/);
  });

  it('keeps the old messages for a missing path and an empty folder', async () => {
    expect((await failure(readCsvFiles('/nonexistent/x'))).message).toMatch(/No file or folder at \/nonexistent\/x/);
    const empty = tempDir('mlp-empty-');
    expect((await failure(readCsvFiles(empty))).message).toMatch(/holds no \.csv/);
    fs.rmSync(empty, { recursive: true });
  });
});

describe('decodeCsvBytes', () => {
  it('decodes UTF-8 with or without a BOM and UTF-16 with a BOM in either byte order', () => {
    expect(decodeCsvBytes(Buffer.from(CSV))).toEqual({ text: CSV });
    expect(decodeCsvBytes(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(CSV)]))).toEqual({ text: CSV });
    expect(decodeCsvBytes(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(CSV, 'utf16le')]))).toEqual({ text: CSV });
    expect(decodeCsvBytes(Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from(CSV, 'utf16le').swap16()]))).toEqual({ text: CSV });
  });

  it('names binary data, UTF-16 without a BOM and invalid UTF-8', () => {
    expect(decodeCsvBytes(Buffer.from([0x50, 0x4b, 3, 4, 0, 0, 1]))).toEqual({ problem: 'it holds binary data (a NUL byte at offset 4, line 1), not CSV text' });
    expect(decodeCsvBytes(Buffer.from(CSV, 'utf16le'))).toEqual({ problem: 'it looks like UTF-16 text without a byte-order mark (every other byte is zero); save it as UTF-8' });
    expect(decodeCsvBytes(Buffer.from([0x61, 0x0a, 0x62, 0xff, 0x63]))).toEqual({ problem: 'it is not valid UTF-8 (byte 0xff at offset 3, line 2); byte 0xff is "ÿ" in Latin-1, so the file is probably Latin-1 or Windows-1252: save it as UTF-8' });
  });
});
