/**
 * CSV sources in S3-compatible object storage: `import.source.path = "s3://bucket/prefix"`, so a
 * worker machine needs no folder of its own to import from. The same rules as local files
 * (csv-files.ts), with objects for files:
 *
 *   s3://bucket/key.csv   one object (a key ending in .csv or .txt)
 *   s3://bucket/prefix    the .csv/.txt objects directly under prefix/ (not deeper), by name
 *
 * Each object's size is checked before it is downloaded, and its bytes are decoded by
 * decodeCsvBytes, so a file refused locally is refused here with the same message. The server is
 * the one of S3_ENDPOINT / S3_REGION / S3_FORCE_PATH_STYLE (the artifact store's; the bucket may
 * differ from ARTIFACT_URL's, which may be unset), the credentials the SDK's standard chain.
 *
 * Failures: a missing object or prefix, a missing bucket and denied access can never succeed on
 * retry, so they are BadInputErrors (non-retryable) naming the s3:// URL and the server; a dropped
 * connection, a 5xx or throttling is a plain Error, which the activity's retry policy retries.
 */
import { GetObjectCommand, HeadBucketCommand, HeadObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { createS3Client, endpointOf, reasonOf, s3FailureKind } from '../artifacts/s3-client';
import { loadObjectStoreSettings } from '../config';
import { BadInputError } from '../errors';
import { excerpt } from '../quality/excerpt';
import { CSV_NAME, decodeCsvFile, MAX_CSV_FILE_BYTES, oversizeError, parseS3CsvUrl, type CsvFileReadOptions, type CsvFileText, type S3CsvLocation } from './csv-files';

/** Objects downloaded at once: enough to hide latency, few enough not to crowd a shared server. */
const PARALLEL_DOWNLOADS = 4;

interface ObjectEntry {
  key: string;
  url: string;
  size: number | undefined;
}

/** What every request of one read shares: the client, the server's name and the source's URL. */
interface Reader {
  client: S3Client;
  server: string;
  bucket: string;
}

const urlOf = (bucket: string, key: string): string => `s3://${bucket}/${key}`;

/**
 * The CSV objects of an s3:// source, decoded to text, each with its s3:// URL as `source` (quality
 * reports and quarantine name it). `followLinks` is refused: an object store has no links, and a
 * request that asks for them was written for a local folder.
 */
export async function readS3CsvFiles(url: string, options: CsvFileReadOptions = {}): Promise<CsvFileText[]> {
  const parsed = parseS3CsvUrl(url);
  if ('problem' in parsed) throw new BadInputError(parsed.problem, 'SOURCE_NOT_FOUND');
  if (options.followLinks) throw new BadInputError(`${excerpt(url, 300)} is in an object store, which has no symbolic links; remove source.followLinks`, 'SOURCE_REFUSED');
  const maxBytes = options.maxFileBytes ?? MAX_CSV_FILE_BYTES;
  const settings = options.objectStore ?? loadObjectStoreSettings();
  const reader: Reader = { client: createS3Client(settings), server: endpointOf(settings), bucket: parsed.bucket };
  try {
    const objects = parsed.folder ? await listFolder(reader, parsed) : [await headObject(reader, parsed.key)];
    // Every size before any download: a folder with one oversize object costs no transfer at all.
    for (const o of objects) if (o.size !== undefined && o.size > maxBytes) throw oversizeError(o.url, 'object', o.size, maxBytes);
    const out: CsvFileText[] = new Array<CsvFileText>(objects.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let i = next++; i < objects.length; i = next++) out[i] = { source: objects[i].url, text: decodeCsvFile(objects[i].url, await download(reader, objects[i], maxBytes)) };
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL_DOWNLOADS, objects.length) }, worker));
    return out;
  } finally {
    reader.client.destroy();
  }
}

/** The .csv/.txt objects directly under the prefix, sorted by name as a local folder's files are. */
async function listFolder(reader: Reader, location: S3CsvLocation): Promise<ObjectEntry[]> {
  const prefix = location.key === '' ? '' : `${location.key}/`;
  const folderUrl = urlOf(reader.bucket, prefix);
  const entries: ObjectEntry[] = [];
  let anything = false;
  let token: string | undefined;
  do {
    let page;
    try {
      // Delimiter '/': "sub-folders" come back as CommonPrefixes, so nothing deeper is read.
      page = await reader.client.send(new ListObjectsV2Command({ Bucket: reader.bucket, Prefix: prefix, Delimiter: '/', ContinuationToken: token }));
    } catch (error) {
      throw failure(reader, 'listing', folderUrl, error);
    }
    anything ||= (page.Contents?.length ?? 0) > 0 || (page.CommonPrefixes?.length ?? 0) > 0;
    for (const o of page.Contents ?? []) {
      const name = (o.Key ?? '').slice(prefix.length);
      if (name !== '' && !name.includes('/') && CSV_NAME.test(name)) entries.push({ key: o.Key as string, url: urlOf(reader.bucket, o.Key as string), size: o.Size });
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  if (!anything && prefix !== '') {
    throw new BadInputError(`Nothing at ${excerpt(folderUrl, 300)} (object store ${reader.server}): no object has that prefix; pass the s3:// URL of a CSV object or of a folder of CSV objects`, 'SOURCE_NOT_FOUND');
  }
  if (entries.length === 0) throw new BadInputError(`The folder ${excerpt(folderUrl, 300)} (object store ${reader.server}) holds no .csv or .txt objects`, 'SOURCE_EMPTY');
  return entries.sort((a, b) => (a.key < b.key ? -1 : 1));
}

async function headObject(reader: Reader, key: string): Promise<ObjectEntry> {
  const url = urlOf(reader.bucket, key);
  try {
    const head = await reader.client.send(new HeadObjectCommand({ Bucket: reader.bucket, Key: key }));
    return { key, url, size: head.ContentLength };
  } catch (error) {
    if (s3FailureKind(error) !== 'not_found') throw failure(reader, 'reading', url, error);
    // A HEAD answer has no body to say whether the object or its bucket is missing: ask the bucket.
    try {
      await reader.client.send(new HeadBucketCommand({ Bucket: reader.bucket }));
    } catch (bucketError) {
      const kind = s3FailureKind(bucketError);
      throw failure(reader, 'reading', url, bucketError, kind === 'not_found' ? 'no_bucket' : kind);
    }
    throw failure(reader, 'reading', url, error);
  }
}

async function download(reader: Reader, object: ObjectEntry, maxBytes: number): Promise<Uint8Array> {
  let out;
  try {
    out = await reader.client.send(new GetObjectCommand({ Bucket: reader.bucket, Key: object.key }));
  } catch (error) {
    throw failure(reader, 'reading', object.url, error);
  }
  // Replaced by a larger object since it was listed: refused without reading the body.
  if (out.ContentLength !== undefined && out.ContentLength > maxBytes) {
    (out.Body as { destroy?: () => void } | undefined)?.destroy?.();
    throw oversizeError(object.url, 'object', out.ContentLength, maxBytes);
  }
  try {
    return out.Body ? await out.Body.transformToByteArray() : new Uint8Array(0);
  } catch (error) {
    throw failure(reader, 'reading', object.url, error);
  }
}

/** The error for a failed request: non-retryable when retrying cannot help, else a plain (retried) Error. */
function failure(reader: Reader, doing: 'listing' | 'reading', url: string, error: unknown, kind = s3FailureKind(error)): Error {
  const where = `(object store ${reader.server})`;
  const shown = excerpt(url, 300);
  switch (kind) {
    case 'no_bucket':
      return new BadInputError(`Cannot read ${shown}: there is no bucket "${reader.bucket}" ${where}; check the URL and S3_ENDPOINT`, 'SOURCE_UNREADABLE');
    case 'not_found':
      return new BadInputError(`No object at ${shown} ${where}; pass the s3:// URL of a CSV object or of a folder of CSV objects`, 'SOURCE_NOT_FOUND');
    case 'denied':
      return new BadInputError(
        `Access denied ${doing} ${shown} ${where}: ${reasonOf(error)}; check the credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or the SDK's other sources) and the bucket's permissions`,
        'SOURCE_UNREADABLE',
      );
    case 'refused':
      return new BadInputError(`The object store refused ${doing} ${shown} ${where}: ${reasonOf(error)}`, 'SOURCE_UNREADABLE');
    case 'transient':
      return new Error(`${doing === 'listing' ? 'Listing' : 'Reading'} ${shown} failed ${where}: ${reasonOf(error)}; a network or server failure, worth retrying (is S3_ENDPOINT right and the server up?)`, { cause: error });
  }
}
