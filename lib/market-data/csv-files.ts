import { constants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { ObjectStoreSettings } from '../config';
import { BadInputError } from '../errors';
import { excerpt } from '../quality/excerpt';
import { UnreadableSourceError } from './csv-reader';

export interface CsvFileText {
  source: string;
  text: string;
  /** Never set for a file (its symbol comes from a column or its name); provider sources set it. */
  symbol?: string;
}

export interface CsvFileReadOptions {
  /**
   * Read symbolic links (the named path or entries of the named folder) and whatever they point
   * to. Off by default: on a shared worker a link can lead the importer to files the requester
   * could not name directly (a `.csv` linked to /etc/shadow).
   */
  followLinks?: boolean;
  /** The server of s3:// sources (default: S3_ENDPOINT, S3_REGION, S3_FORCE_PATH_STYLE of the environment). */
  objectStore?: ObjectStoreSettings;
  /** The size bound of one file or object (default MAX_CSV_FILE_BYTES; tests lower it). */
  maxFileBytes?: number;
}

/** Node's string limit is about 512 MiB of UTF-16; a daily-bar file is a few MiB at most. */
export const MAX_CSV_FILE_BYTES = 256 * 2 ** 20;

export const CSV_NAME = /\.(csv|txt)$/i;

/**
 * A source path that names an object-store location, s3://bucket/key, rather than a local path:
 * read with the S3 client (s3-csv-files.ts), never resolved against a folder of this machine.
 */
export const isS3Url = (p: string): boolean => p.startsWith('s3://');

/** Where an s3:// source is: a `folder` (a prefix, '' for the bucket root) or one object. */
export interface S3CsvLocation {
  bucket: string;
  /** Without leading or trailing slash. */
  key: string;
  folder: boolean;
}

const URL_SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//;
const S3_BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const S3_URL_FORMS = 's3://bucket/prefix (the .csv/.txt objects directly under it) or s3://bucket/key.csv (one object)';

/**
 * Parses an s3:// source. Like a local path: a key ending in .csv or .txt names one object,
 * anything else (or a trailing slash) a folder. Returns the problem, for a person, when malformed.
 */
export function parseS3CsvUrl(url: string): S3CsvLocation | { problem: string } {
  const shown = JSON.stringify(excerpt(url, 300));
  const m = /^s3:\/\/([^/]*)(?:\/(.*))?$/s.exec(url);
  if (!m) return { problem: `${shown} is not an s3:// URL; expected ${S3_URL_FORMS}` };
  const [, bucket, rest = ''] = m;
  if (bucket === '') return { problem: `${shown} names no bucket; expected ${S3_URL_FORMS}` };
  if (!S3_BUCKET.test(bucket) || bucket.includes('..')) return { problem: `${shown}: "${excerpt(bucket, 80)}" is not a bucket name (3-63 lower-case letters, digits, dots, hyphens)` };
  const key = rest.replace(/\/+$/, '');
  // eslint-disable-next-line no-control-regex -- control characters are what is refused
  if (/[\u0000-\u001f\u007f]/.test(key)) return { problem: `${shown}: the key holds a control character` };
  if (key !== '' && key.split('/').some((part) => part === '' || part === '.' || part === '..')) {
    return { problem: `${shown}: the key has an empty, "." or ".." part; the object store does not resolve them, so name the key as it is stored` };
  }
  if (Buffer.byteLength(key) > 1024) return { problem: `${shown}: the key is longer than the 1024 bytes S3 allows` };
  return { bucket, key, folder: key === '' || rest.endsWith('/') || !CSV_NAME.test(key) };
}

/** Why a csv source path can never be read (a malformed s3:// URL, another URL scheme), else undefined. */
export function csvSourcePathProblem(p: string): string | undefined {
  if (isS3Url(p)) {
    const parsed = parseS3CsvUrl(p);
    return 'problem' in parsed ? parsed.problem : undefined;
  }
  const scheme = URL_SCHEME.exec(p)?.[1];
  if (scheme) return `${JSON.stringify(excerpt(p, 300))} is a ${scheme}:// URL; a csv source is a path on the worker or ${S3_URL_FORMS}`;
  return undefined;
}

/** The location readCsvFiles is given: a local path made absolute (workers may run elsewhere), an s3:// URL as it is. */
export const resolveCsvSource = (p: string): string => (isS3Url(p) ? p : path.resolve(p));

// O_NOFOLLOW makes open() itself refuse a link, so a file swapped for a link after the check is
// refused too; O_NONBLOCK keeps a FIFO named *.csv from blocking the open (it is refused below).
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);
const NO_FOLLOW = constants.O_NOFOLLOW ?? 0;

const refused = (message: string): BadInputError => new BadInputError(message, 'SOURCE_REFUSED');
const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/** Refuses a file or object over the size bound, before reading it (same words for both). */
export function oversizeError(source: string, what: 'file' | 'object', bytes: number, limit: number): UnreadableSourceError {
  return new UnreadableSourceError(source, `the ${what} is ${mib(bytes)}, more than the ${mib(limit)} the reader accepts; split it`, 'bad_encoding');
}

/**
 * The CSV files of a source: the named file, or the .csv/.txt files directly inside the named
 * folder, decoded to text. Refuses (non-retryable, naming the path) symbolic links unless
 * `followLinks`, anything that is not a regular file, files over MAX_CSV_FILE_BYTES and bytes that
 * are not text (see decodeCsvBytes). Nothing outside the named source is read.
 *
 * An s3:// target is read from the object store with the same rules (s3-csv-files.ts).
 */
export async function readCsvFiles(target: string, options: CsvFileReadOptions = {}): Promise<CsvFileText[]> {
  if (isS3Url(target)) {
    // Loaded on first use: a process that imports only local files never loads the S3 SDK.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { readS3CsvFiles } = require('./s3-csv-files') as typeof import('./s3-csv-files');
    return readS3CsvFiles(target, options);
  }
  const followLinks = options.followLinks === true;
  const maxBytes = options.maxFileBytes ?? MAX_CSV_FILE_BYTES;
  let stat;
  try {
    stat = followLinks ? await fs.stat(target) : await fs.lstat(target);
  } catch {
    throw new BadInputError(`No file or folder at ${excerpt(target, 300)}; pass the path of a CSV file or of a folder of CSV files`, 'SOURCE_NOT_FOUND');
  }
  if (stat.isSymbolicLink()) {
    throw refused(`${excerpt(target, 300)} is a symbolic link; the importer reads only the files you name (set source.followLinks to read links)`);
  }
  let files: string[];
  if (stat.isDirectory()) {
    const entries = (await fs.readdir(target, { withFileTypes: true })).filter((e) => CSV_NAME.test(e.name)).sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const e of entries) {
      if (e.isSymbolicLink() && !followLinks) {
        throw refused(`${excerpt(path.join(target, e.name), 300)} is a symbolic link, which may lead outside ${excerpt(target, 300)}; remove it, copy the file in, or set source.followLinks to read links`);
      }
    }
    files = entries.map((e) => path.join(target, e.name));
  } else files = [target];
  if (files.length === 0) throw new BadInputError(`The folder ${excerpt(target, 300)} holds no .csv or .txt files`, 'SOURCE_EMPTY');
  return Promise.all(files.map(async (file) => ({ source: file, text: decodeCsvFile(file, await readRegularFile(file, followLinks, maxBytes)) })));
}

async function readRegularFile(file: string, followLinks: boolean, maxBytes: number): Promise<Buffer> {
  let handle;
  try {
    handle = await fs.open(file, OPEN_FLAGS | (followLinks ? 0 : NO_FOLLOW));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ELOOP' || code === 'EMLINK') throw refused(`${excerpt(file, 300)} is a symbolic link; set source.followLinks to read links`);
    throw new BadInputError(`Cannot open ${excerpt(file, 300)}: ${code ?? (error as Error).message}`, 'SOURCE_UNREADABLE');
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw refused(`${excerpt(file, 300)} is not a regular file (a folder, pipe, socket or device); only CSV files are read`);
    if (stat.size > maxBytes) throw oversizeError(file, 'file', stat.size, maxBytes);
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

/** The text of a file's or object's bytes; refuses bytes that are not text, naming the source (see decodeCsvBytes). */
export function decodeCsvFile(file: string, bytes: Uint8Array): string {
  const decoded = decodeCsvBytes(bytes);
  if ('problem' in decoded) throw new UnreadableSourceError(file, decoded.problem, 'bad_encoding');
  return decoded.text;
}

/**
 * Bytes to text: UTF-8 (a byte-order mark is dropped), or UTF-16 when a byte-order mark says so.
 * Anything else (NUL bytes, bytes that are not UTF-8 such as Latin-1 accents) is a problem naming
 * what was found and where, never guessed at: a wrong guess would store wrong symbols and numbers.
 */
export function decodeCsvBytes(bytes: Uint8Array): { text: string } | { problem: string } {
  if (bytes.length >= 2 && ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff))) {
    const littleEndian = bytes[0] === 0xff;
    if (bytes.length % 2 !== 0) return { problem: `it starts with a UTF-16 ${littleEndian ? 'LE' : 'BE'} byte-order mark but has an odd number of bytes; it is damaged or not UTF-16` };
    const body = Buffer.from(bytes.subarray(2));
    if (!littleEndian) body.swap16();
    return { text: body.toString('utf16le') };
  }
  const start = bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  const nul = bytes.indexOf(0, start);
  if (nul >= 0) {
    const head = bytes.subarray(start, start + 400);
    const zeros = head.filter((b) => b === 0).length;
    if (zeros >= head.length / 3) return { problem: 'it looks like UTF-16 text without a byte-order mark (every other byte is zero); save it as UTF-8' };
    return { problem: `it holds binary data (a NUL byte at offset ${nul}, line ${lineAt(bytes, nul)}), not CSV text` };
  }
  try {
    return { text: new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes.subarray(start)) };
  } catch {
    const at = firstInvalidUtf8(bytes, start);
    const byte = bytes[at];
    const hint = byte >= 0xa0 ? `; byte 0x${byte.toString(16)} is "${String.fromCharCode(byte)}" in Latin-1, so the file is probably Latin-1 or Windows-1252: save it as UTF-8` : '; save it as UTF-8';
    return { problem: `it is not valid UTF-8 (byte 0x${byte.toString(16)} at offset ${at}, line ${lineAt(bytes, at)})${hint}` };
  }
}

function lineAt(bytes: Uint8Array, offset: number): number {
  let line = 1;
  for (let i = bytes.indexOf(10); i >= 0 && i < offset; i = bytes.indexOf(10, i + 1)) line++;
  return line;
}

/** Offset of the first byte that does not start or continue a valid UTF-8 sequence. */
function firstInvalidUtf8(bytes: Uint8Array, from: number): number {
  let i = from;
  while (i < bytes.length) {
    const b = bytes[i];
    const need = b < 0x80 ? 0 : b >= 0xc2 && b <= 0xdf ? 1 : b >= 0xe0 && b <= 0xef ? 2 : b >= 0xf0 && b <= 0xf4 ? 3 : -1;
    if (need < 0) return i;
    for (let k = 1; k <= need; k++) if (i + k >= bytes.length || (bytes[i + k] & 0xc0) !== 0x80) return i;
    i += need + 1;
  }
  return Math.max(from, bytes.length - 1);
}
