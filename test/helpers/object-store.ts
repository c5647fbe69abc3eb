import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { ArtifactLocation } from '../../lib/artifacts/artifact-store';
import type { ObjectStoreSettings } from '../../lib/config';
import { startObjectStore, type ObjectStoreHandle } from '../../platform/object-store';
import { freePort } from './worker-process';

export interface TestObjectStore {
  endpoint: string;
  bucket: string;
  accessKey: string;
  secretKey: string;
  /** The server's folder: <dir>/<bucket>/<key> is an object's file. */
  dir: string;
  handle: ObjectStoreHandle;
  /** A location in the bucket with its own empty read-through cache (a fresh machine). */
  location(options?: { prefix?: string; cacheMaxBytes?: number }): Extract<ArtifactLocation, { kind: 's3' }>;
  /** The environment a worker or API process needs to use this store. */
  env(prefix?: string): Record<string, string>;
  /** S3_ENDPOINT and friends as lib/config.ts reads them (credentials: the variables set here). */
  settings: ObjectStoreSettings;
  /** Writes one object through the S3 API (with this store's own credentials); returns its s3:// URL. */
  put(key: string, bytes: Buffer | string): Promise<string>;
  /** Uploads the files directly inside `dir` under `prefix`/ (not deeper), as a machine holding them would; returns s3://bucket/prefix. */
  putFolder(dir: string, prefix: string): Promise<string>;
  stop(): Promise<void>;
}

/**
 * A real S3-compatible server (versitygw, built once per user by platform/object-store.ts) on a
 * free port of `host`, serving a temporary folder, with one bucket. Sets the SDK's credential
 * variables in this process, as a machine's environment would.
 */
export async function startTestObjectStore(options: { host?: string; port?: number } = {}): Promise<TestObjectStore> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlp-s3-'));
  const bucket = 'mlp-test';
  const accessKey = 'mlp-test-access';
  const secretKey = crypto.randomBytes(12).toString('hex');
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? (await freePort());
  const handle = await startObjectStore({ dir, address: `${host}:${port}`, accessKey, secretKey, buckets: [bucket], logFile: path.join(dir, '..', `${path.basename(dir)}.log`) });
  process.env.AWS_ACCESS_KEY_ID = accessKey;
  process.env.AWS_SECRET_ACCESS_KEY = secretKey;
  const caches: string[] = [];
  let client: S3Client | undefined;
  // Explicit credentials: a test may swap the environment's to check how wrong ones are refused.
  const put = async (key: string, bytes: Buffer | string): Promise<string> => {
    client ??= new S3Client({ region: 'us-east-1', endpoint: handle.endpoint, forcePathStyle: true, credentials: { accessKeyId: accessKey, secretAccessKey: secretKey } });
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: bytes }));
    return `s3://${bucket}/${key}`;
  };
  return {
    endpoint: handle.endpoint,
    bucket,
    accessKey,
    secretKey,
    dir,
    handle,
    location: (o = {}) => {
      const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlp-s3-cache-'));
      caches.push(cacheDir);
      return { kind: 's3', bucket, prefix: o.prefix ?? 'artifacts', endpoint: handle.endpoint, region: 'us-east-1', forcePathStyle: true, cacheDir, cacheMaxBytes: o.cacheMaxBytes ?? 256 * 1024 * 1024 };
    },
    env: (prefix = 'artifacts') => ({ ARTIFACT_URL: `s3://${bucket}/${prefix}`, S3_ENDPOINT: handle.endpoint, AWS_ACCESS_KEY_ID: accessKey, AWS_SECRET_ACCESS_KEY: secretKey, AWS_REGION: 'us-east-1' }),
    settings: { endpoint: handle.endpoint, region: 'us-east-1', forcePathStyle: true },
    put,
    putFolder: async (folder, prefix) => {
      for (const e of fs.readdirSync(folder, { withFileTypes: true })) if (e.isFile()) await put(`${prefix}/${e.name}`, fs.readFileSync(path.join(folder, e.name)));
      return `s3://${bucket}/${prefix}`;
    },
    stop: async () => {
      client?.destroy();
      await handle.stop();
      for (const d of [dir, ...caches]) fs.rmSync(d, { recursive: true, force: true });
    },
  };
}
