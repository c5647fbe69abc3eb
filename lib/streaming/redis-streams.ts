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

/** Lua: a table of a flat [field, value, …] reply (XINFO's, as scripts see it). */
const LUA_FIELDS = `local function fields(flat) local m = {} for i = 1, #flat, 2 do m[flat[i]] = flat[i + 1] end return m end
`;

/** Lua: whether stream id a is older than b (ids compared as numbers, milliseconds then sequence). */
const LUA_OLDER = `local function older(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  return am < bm or (am == bm and as < bs)
end
`;

/**
 * XGROUP CREATE … MKSTREAM with the group's entries-read counter set (ENTRIESREAD): "0" starts after
 * the entries already trimmed away, "$" after every entry added. Created without it, the counter is
 * unknown until the group's first read, and entries trimmed before that read could not be counted
 * (PASS_TRIMMED). Another start id leaves it unknown. Returns 1 when created, 0 when it existed.
 */
const CREATE_GROUP = `${LUA_FIELDS}
local read
if redis.call('EXISTS', KEYS[1]) == 0 then read = 0
else
  for _, row in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
    if fields(row)['name'] == ARGV[1] then return 0 end
  end
  local s = fields(redis.call('XINFO', 'STREAM', KEYS[1]))
  local added = s['entries-added']
  if added then
    if ARGV[2] == '$' then read = added elseif ARGV[2] == '0' then read = added - s['length'] end
  end
end
local created = read and redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[1], ARGV[2], 'MKSTREAM', 'ENTRIESREAD', string.format('%d', read))
-- Before Redis 7.0 there is no ENTRIESREAD (nor entries-added): the group is created without its read counter.
if not created or (type(created) == 'table' and created['err']) then redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1], ARGV[2], 'MKSTREAM') end
return 1`;

/** Creates the group at `startId` (and the stream) unless it exists; true when created, false when it already existed. */
export async function ensureConsumerGroup(redis: Redis, key: string, group: string, startId = '0'): Promise<boolean> {
  return Number(await redis.call('EVAL', [CREATE_GROUP, 1, key, group, startId])) === 1;
}

/** Redis's answer when the stream or its consumer group does not exist (XREADGROUP, XAUTOCLAIM, XPENDING). */
export function isNoGroupError(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOGROUP');
}

/**
 * Lua: creates the group (and the stream) at ARGV[2] unless it exists, for a consumer whose group
 * was deleted under it: reads go on after the last entry it processed. Its entries-read counter is
 * set when it can be known exactly, so that entries trimmed later are counted (PASS_TRIMMED): all
 * entries added when ARGV[2] is the newest id; otherwise, when ARGV[2] is still in the stream and
 * nothing after it was deleted (trimming removes the oldest first), the entries added less those
 * after it (counted up to 100,000; beyond, left unknown). When the stream's first entry is after
 * ARGV[3] (the entry due next when known, else ARGV[2]; or the stream is empty), entries before it
 * may have been trimmed and how many cannot be told: that entry (the newest id) is returned. Whether
 * the stream itself was lost: 'missing' when the key does not exist; 'replaced' when it does not hold
 * ARGV[4] (an entry the old stream held, '' when none is known) though it never lost an entry
 * (its length is every entry ever added: neither trimmed nor XDEL; Redis 7): a new stream of that
 * name, the old one gone (Redis lost its data). A lost stream's group is created at 0-0 with its
 * counter at 0 instead: the new stream's ids need not follow the old one's (a restarted Redis whose
 * clock is behind gives smaller ones), and a group after the old position never delivered them.
 * Returns {0} when the group exists, else {1, the counter or '', that entry or '', 'missing',
 * 'replaced' or ''}.
 */
const RECREATE_GROUP = `${LUA_FIELDS}${LUA_OLDER}local read
local gap = ''
local lost = 'missing'
if redis.call('EXISTS', KEYS[1]) == 1 then
  lost = ''
  for _, row in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
    if fields(row)['name'] == ARGV[1] then return {0} end
  end
  local s = fields(redis.call('XINFO', 'STREAM', KEYS[1]))
  local added = s['entries-added']
  local newest = s['last-generated-id']
  local first = s['first-entry'] and s['first-entry'][1]
  local deleted = s['max-deleted-entry-id']
  if ARGV[4] ~= '' and added and added == s['length'] and #redis.call('XRANGE', KEYS[1], ARGV[4], ARGV[4]) == 0 then lost = 'replaced' end
  if ARGV[2] == '$' or (added and not older(ARGV[2], newest)) then read = added
  elseif not first then gap = newest
  elseif older(ARGV[3], first) then gap = first
  elseif added and (deleted == nil or not older(ARGV[2], deleted)) then
    local after = redis.call('XRANGE', KEYS[1], '(' .. ARGV[2], '+', 'COUNT', 100001)
    if #after <= 100000 then read = added - #after end
  end
end
local at = ARGV[2]
if lost ~= '' then
  at = '0-0'
  read = 0
end
local created = read and redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[1], at, 'MKSTREAM', 'ENTRIESREAD', string.format('%d', read))
if not created or (type(created) == 'table' and created['err']) then
  redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1], at, 'MKSTREAM')
  read = nil
end
return {1, read and string.format('%d', read) or '', gap, lost}`;

export interface RecreatedGroup {
  /** False: the group existed (another consumer, or an operator, had created it again). */
  created: boolean;
  /** Its entries-read counter, when it could be set. */
  entriesRead?: number;
  /** The stream's first entry (its newest id when empty), when after the position: entries up to it may have been trimmed, uncounted. */
  firstAfterGap?: string;
  /** The stream was lost with the group: `missing`, no such key; `replaced`, a new stream of that name (it does not hold `held`, and never lost an entry). */
  streamLost?: StreamLost;
  /** Where the group was created: after `afterId`, or at 0-0 (the whole new stream) when the stream was lost. */
  createdAfter?: string;
}

export type StreamLost = 'missing' | 'replaced';

/**
 * Creates the group again after `afterId` (its next read delivers the entries after it; `$`: after
 * the newest), unless it exists. `next`: the entry due next, when known (a trimmed stream whose first
 * entry is `next` has lost nothing the group needs). `held`: an entry the stream is known to have
 * held (one the consumer read), by which a new stream of the same name is told from the old one.
 */
export async function recreateConsumerGroup(redis: Redis, key: string, group: string, afterId: string, next = afterId, held?: string): Promise<RecreatedGroup> {
  const args = [RECREATE_GROUP, 1, key, group, afterId, next === '$' ? afterId : next, held ?? ''];
  const [created, read = '', gap = '', lost = ''] = ((await redis.call('EVAL', args)) as unknown[]).map(String);
  if (created !== '1') return { created: false };
  const streamLost = lost === 'missing' || lost === 'replaced' ? lost : undefined;
  return {
    created: true,
    ...(read !== '' ? { entriesRead: Number(read) } : {}),
    ...(gap !== '' ? { firstAfterGap: gap } : {}),
    ...(streamLost !== undefined ? { streamLost } : {}),
    createdAfter: streamLost !== undefined ? '0-0' : afterId,
  };
}

/** The group's last-delivered id, or undefined when the stream or the group does not exist. */
export async function groupLastDelivered(redis: Redis, key: string, group: string): Promise<string | undefined> {
  let reply: unknown;
  try {
    reply = await redis.call('XINFO', ['GROUPS', key]);
  } catch {
    return undefined;
  }
  for (const g of reply as unknown[][]) {
    const info = fieldsOf(g);
    if (info?.name === group) return info['last-delivered-id'];
  }
  return undefined;
}

/** The id just before `id` in stream order ('0-0' stays): a group created at it delivers `id` next. */
export function idBefore(id: string): string {
  const dash = id.indexOf('-');
  const ms = BigInt(id.slice(0, dash));
  const seq = BigInt(id.slice(dash + 1));
  if (seq > 0n) return `${ms}-${seq - 1n}`;
  return ms > 0n ? `${ms - 1n}-18446744073709551615` : '0-0';
}

/**
 * Lua, run in one transaction with the group's read of new entries: entries added after the group's
 * last-delivered id and removed (trimmed by MAXLEN) before it read them. XREADGROUP skips past them
 * without a trace, and Redis 7.0 then goes on counting the group's reads from where it was, as if
 * they had never been added (so its lag stays too high for good). Trimming removes the oldest
 * entries first, so unread ones are gone only when the stream's first entry is newer than the
 * group's last-delivered id (or the stream is empty); how many: the entries ever added, less those
 * left, less those the group read (its entries-read counter; unknown, nothing can be told). The
 * counter is then set past them, so no later read counts them again.
 * Returns {newest id} or {newest id, how many, the group's last-delivered id, the first entry left or ''}.
 */
const PASS_TRIMMED = `${LUA_FIELDS}${LUA_OLDER}if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
local group
for _, row in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local g = fields(row)
  if g['name'] == ARGV[1] then group = g end
end
local s = fields(redis.call('XINFO', 'STREAM', KEYS[1]))
local newest = s['last-generated-id']
if not group or not group['entries-read'] then return {newest} end
local last = group['last-delivered-id']
local first = s['first-entry'] and s['first-entry'][1]
if not older(last, first or newest) then return {newest} end
local gone = s['entries-added'] - s['length']
local lost = gone - group['entries-read']
if lost <= 0 then return {newest} end
redis.call('XGROUP', 'SETID', KEYS[1], ARGV[1], last, 'ENTRIESREAD', string.format('%d', gone))
return {newest, lost, last, first or ''}`;

/** Entries the group will never read: trimmed (MAXLEN) after its last-delivered id before it read them. */
export interface TrimmedUnread {
  count: number;
  /** The group's last-delivered id: the lost entries came after it. */
  after: string;
  /** The stream's first entry left, which they came before; undefined when the stream is empty (then they ran through `newest`). */
  before?: string;
  newest: string;
}

export interface NewEntriesRequest {
  key: string;
  group: string;
  consumer: string;
  count: number;
}

export interface NewEntries {
  entries: StreamEntry[];
  /** Entries trimmed after the group's last-delivered id before this read, which went on past them. */
  trimmed?: TrimmedUnread;
  /** The stream's last id when read ('0-0' unknown): entries after it are waited for. */
  newest: string;
  /** Why trimmed entries could not be looked for (the read itself went ahead). */
  checkFailed?: string;
}

/** The entries of an XREAD/XREADGROUP reply for one stream; ids whose entry was trimmed or deleted (null fields) apart. */
function entriesOfReadReply(reply: unknown): { entries: StreamEntry[]; deleted: string[] } {
  if (!Array.isArray(reply) || reply.length === 0) return { entries: [], deleted: [] };
  // RESP2 answers [[key, entries]]; RESP3 (ioredis' default with Redis 7) a map, flattened to [key, entries].
  const items: unknown = typeof reply[0] === 'string' ? reply[1] : (reply[0] as unknown[])[1];
  return parseEntries(items);
}

/**
 * XREADGROUP … '>' (never blocking) in one transaction after PASS_TRIMMED: no other read of the
 * group comes between, so entries trimmed before the group read them are told once, by the read
 * that goes past them, whichever consumer makes it.
 */
export async function readNewEntries(redis: Redis, r: NewEntriesRequest): Promise<NewEntries> {
  const replies = await redis.multi().call('EVAL', [PASS_TRIMMED, 1, r.key, r.group]).call('XREADGROUP', ['GROUP', r.group, r.consumer, 'COUNT', r.count, 'STREAMS', r.key, '>']).exec();
  if (!replies) throw new Error(`reading ${r.key} as group ${r.group}: the transaction was discarded`);
  const [[checkError, check], [readError, read]] = replies as Array<[Error | null, unknown]>;
  if (readError) throw readError;
  const { entries } = entriesOfReadReply(read);
  if (checkError) return { entries, newest: '0-0', checkFailed: checkError.message };
  const [newest = '0-0', count, after, before] = (check as unknown[]).map(String);
  if (count === undefined) return { entries, newest };
  return { entries, newest, trimmed: { count: Number(count), after, ...(before ? { before } : {}), newest } };
}

/** Waits up to `blockMs` for an entry after `afterId` (XREAD BLOCK: no group moves); true when one is there. */
export async function waitForEntriesAfter(redis: Redis, key: string, afterId: string, blockMs: number): Promise<boolean> {
  const reply = await redis.call('XREAD', ['COUNT', 1, 'BLOCK', blockMs, 'STREAMS', key, afterId]);
  return entriesOfReadReply(reply).entries.length > 0;
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
