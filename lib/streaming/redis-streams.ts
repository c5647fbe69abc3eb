/**
 * The few Redis Stream commands the live path uses, over ioredis, with their replies parsed into
 * plain types. The Cache interface has no streams, so this module talks to Redis directly.
 */
import { Redis } from 'ioredis';

export interface StreamEntry {
  id: string;
  fields: Record<string, string>;
}

export class StreamConfigError extends Error {
  override name = 'StreamConfigError';
}

/** A connection for stream commands; the live path has no in-process fallback, so REDIS_URL is required. */
export function openStreamRedis(redisUrl: string | undefined, purpose: string): Redis {
  if (!redisUrl) {
    throw new StreamConfigError(`${purpose} needs Redis: live bars travel through a Redis Stream. Set REDIS_URL, e.g. REDIS_URL=redis://127.0.0.1:6379/0`);
  }
  return new Redis(redisUrl, { maxRetriesPerRequest: 3 });
}

function fieldsOf(flat: unknown): Record<string, string> | null {
  if (!Array.isArray(flat)) return null;
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[String(flat[i])] = String(flat[i + 1]);
  return out;
}

/** [[id, [f, v, …] | null], …] → entries; ids whose entry was trimmed or deleted (null fields) apart. */
export function parseEntries(raw: unknown): { entries: StreamEntry[]; deleted: string[] } {
  const entries: StreamEntry[] = [];
  const deleted: string[] = [];
  if (!Array.isArray(raw)) return { entries, deleted };
  for (const item of raw) {
    if (!Array.isArray(item)) continue;
    const id = String(item[0]);
    const fields = fieldsOf(item[1]);
    if (fields === null) deleted.push(id);
    else entries.push({ id, fields });
  }
  return { entries, deleted };
}

/** XGROUP CREATE … MKSTREAM; true when created, false when it already existed. */
export async function ensureConsumerGroup(redis: Redis, key: string, group: string, startId = '0'): Promise<boolean> {
  try {
    await redis.call('XGROUP', ['CREATE', key, group, startId, 'MKSTREAM']);
    return true;
  } catch (error) {
    if (/BUSYGROUP/.test((error as Error).message)) return false;
    throw error;
  }
}

export interface ReadGroupRequest {
  key: string;
  group: string;
  consumer: string;
  count: number;
  /** 0: do not block. */
  blockMs: number;
  /** '>' for new entries, '0' for this consumer's own pending entries. */
  id: '>' | '0';
}

export async function readGroup(redis: Redis, r: ReadGroupRequest): Promise<{ entries: StreamEntry[]; deleted: string[] }> {
  const args: Array<string | number> = ['GROUP', r.group, r.consumer, 'COUNT', r.count];
  if (r.id === '>' && r.blockMs > 0) args.push('BLOCK', r.blockMs);
  args.push('STREAMS', r.key, r.id);
  const reply = await redis.call('XREADGROUP', args);
  if (!Array.isArray(reply) || reply.length === 0) return { entries: [], deleted: [] };
  // RESP2 answers [[key, entries]]; RESP3 (ioredis' default with Redis 7) a map, flattened to [key, entries].
  const items: unknown = typeof reply[0] === 'string' ? reply[1] : (reply[0] as unknown[])[1];
  return parseEntries(items);
}

export interface AutoClaimResult {
  /** Cursor for the next call; '0-0' when the pending list has been scanned to its end. */
  next: string;
  entries: StreamEntry[];
  /** Pending ids whose entries were trimmed away (Redis removes them from the pending list). */
  deleted: string[];
}

/** XAUTOCLAIM: takes over entries pending (read, never acknowledged) for longer than minIdleMs. */
export async function autoClaim(redis: Redis, key: string, group: string, consumer: string, minIdleMs: number, cursor: string, count: number): Promise<AutoClaimResult> {
  const reply = (await redis.call('XAUTOCLAIM', [key, group, consumer, minIdleMs, cursor, 'COUNT', count])) as unknown[];
  const parsed = parseEntries(reply[1]);
  const trimmed = Array.isArray(reply[2]) ? reply[2].map(String) : [];
  return { next: String(reply[0]), entries: parsed.entries, deleted: [...parsed.deleted, ...trimmed] };
}

export async function ackEntries(redis: Redis, key: string, group: string, ids: readonly string[]): Promise<number> {
  if (ids.length === 0) return 0;
  // Chunks of 5,000 ids, sent together (one round trip).
  const chunks: Array<Promise<unknown>> = [];
  for (let i = 0; i < ids.length; i += 5000) chunks.push(redis.call('XACK', [key, group, ...ids.slice(i, i + 5000)]));
  return (await Promise.all(chunks)).reduce<number>((a, n) => a + Number(n), 0);
}

/** How often each of the given pending entries has been delivered (absent: not pending); one round trip. */
export async function deliveryCounts(redis: Redis, key: string, group: string, ids: readonly string[]): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  const pipeline = redis.pipeline();
  for (const id of ids) pipeline.call('XPENDING', [key, group, id, id, 1]);
  for (const [error, reply] of (await pipeline.exec()) ?? []) {
    if (error) throw error;
    const row = (reply as unknown[])[0] as unknown[] | undefined;
    if (row) counts.set(String(row[0]), Number(row[3]));
  }
  return counts;
}

/** Entries read by the group and not yet acknowledged. */
export async function pendingCount(redis: Redis, key: string, group: string): Promise<number> {
  const reply = (await redis.call('XPENDING', [key, group])) as unknown[];
  return Number(reply[0] ?? 0);
}

/** The smallest id the group has read and not acknowledged (any consumer's), if any: XPENDING's summary, O(1). */
export async function oldestPendingId(redis: Redis, key: string, group: string): Promise<string | undefined> {
  const reply = (await redis.call('XPENDING', [key, group])) as unknown[];
  return Number(reply[0] ?? 0) > 0 && typeof reply[1] === 'string' ? reply[1] : undefined;
}

/**
 * Entries of the stream the group has not read yet (XINFO GROUPS lag): `exists` false when the
 * stream or the group does not exist yet; `lag` undefined when Redis cannot tell (deletions inside
 * the unread range).
 */
export async function groupLag(redis: Redis, key: string, group: string): Promise<{ exists: boolean; lag: number | undefined }> {
  let reply: unknown;
  try {
    reply = await redis.call('XINFO', ['GROUPS', key]);
  } catch {
    return { exists: false, lag: undefined }; // no such stream yet
  }
  for (const g of reply as unknown[][]) {
    const info = fieldsOf(g);
    if (info?.name !== group) continue;
    const lag = Number(info.lag);
    return { exists: true, lag: info.lag === undefined || info.lag === 'null' || !Number.isFinite(lag) ? undefined : lag };
  }
  return { exists: false, lag: undefined };
}

export async function streamLength(redis: Redis, key: string): Promise<number> {
  return Number(await redis.call('XLEN', [key]));
}
