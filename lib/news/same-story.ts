/**
 * When two stamped headlines are the same story, counted once. A vendor re-sending a headline with a
 * corrected time, a wire repeat, or another feed giving the same text without its time gave a second
 * row, and the copy stamped earlier still counted on its day: a look-ahead leak when the earlier stamp
 * was before the close and the true one after it.
 *
 * The same story is the same symbol and the same normalised text seen within SAME_STORY_WINDOW_MS, or
 * the same vendor id (when the file has one) whatever the stamps. It counts once, at the latest stamp
 * seen: a later stamp can only delay information, an earlier one can leak it.
 */
import { createHash } from 'node:crypto';

/**
 * 24 hours: a copy within this of any stamp of a story (its earliest or its latest) is that story.
 * Wide enough for what repeats a story: a wire repeat (minutes), a corrected time (hours), a feed
 * stamping UTC or another zone for exchange time (at most 19 hours off), a date without its time
 * beside a timed stamp of that date or of the day after (a UTC date). Measured from either end, not
 * from the earliest alone: otherwise which copies merged depended on the order they were imported in,
 * and a late copy of a stored story (the vendor's original 15:30 after 16:30 Mon and 15:45 Tue)
 * became a row of its own on the earlier day, the leak this rule exists to stop.
 */
export const SAME_STORY_WINDOW_MS = 24 * 3600 * 1000;

/**
 * 48 hours: the most a story spans from its earliest to its latest stamp. Copies of one moment each
 * stamped within the window of it span less than twice the window, so they always merge, in any
 * order; what chains beyond (a template headline drifting earlier every day, a daily one dated
 * without its time) is cut into stories of at most this span instead of a year merged into its last
 * day. Where such a chain is cut, which copies fall together can depend on the import order.
 */
export const SAME_STORY_MAX_SPAN_MS = 2 * SAME_STORY_WINDOW_MS;

/** Letters and digits only, lower case, single spaces: case, punctuation and spacing do not make a new story. */
export function normaliseHeadline(text: string): string {
  return text
    .normalize('NFKC')
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter((t) => t !== '')
    .join(' ');
}

/** Key of a story: (vendor id, symbol) when the vendor gave one, else (symbol, normalised text). */
export function storyKey(symbol: string | null, headline: string, vendorId?: string | null): string {
  const key = vendorId ? `vendor\u0000${vendorId}\u0000${symbol ?? ''}` : `text\u0000${symbol ?? ''}\u0000${normaliseHeadline(headline)}`;
  return createHash('sha1').update(key).digest('hex');
}

/**
 * Orders stamps `YYYY-MM-DD[ HH:MM]` in time. A date without its time sorts after every time of that
 * day, as it counts: from the next trading day (lib/news/headlines.ts effectiveTradingDay).
 */
export function stampOrder(published: string): string {
  return published.length === 10 ? `${published} 24:00` : published;
}

/** [earliest, latest] moment a stamp may mean, in ms of naive exchange time: a whole day without its time. */
function stampSpan(published: string): [number, number] {
  const day = Date.parse(`${published.slice(0, 10)}T00:00:00Z`);
  if (published.length === 10) return [day, day + 24 * 3600 * 1000];
  const at = day + (Number(published.slice(11, 13)) * 60 + Number(published.slice(14, 16))) * 60_000;
  return [at, at];
}

/** Time between two stamps; 0 when they may mean the same moment (a date and a time on it). */
export function stampGapMs(a: string, b: string): number {
  const [aLo, aHi] = stampSpan(a);
  const [bLo, bHi] = stampSpan(b);
  return Math.max(0, bLo - aHi, aLo - bHi);
}

/** One headline or stored row: its story, and the earliest and latest stamp seen of it (the same for a new one). */
export interface StorySighting {
  story: string;
  /** Identified by the vendor's id: the same story whatever its stamps. */
  byVendorId: boolean;
  first: string;
  last: string;
}

/**
 * Groups sightings into stories: by key, then, earliest first, each sighting joins the story before it
 * when it lies within the window of any of the story's stamps and the story then spans less than
 * SAME_STORY_MAX_SPAN_MS (always, by vendor id). A story's sightings are an interval of time, so
 * "within the window of any stamp" is within it of the interval: for stamps spanning less than the
 * bound, the stories are the same whatever order the sightings were merged in. Deterministic, and a
 * group once formed is never split: stored rows merged before stay merged.
 */
export function groupSameStories<T extends StorySighting>(sightings: readonly T[]): T[][] {
  const byKey = new Map<string, T[]>();
  for (const s of sightings) {
    const list = byKey.get(s.story);
    if (list) list.push(s);
    else byKey.set(s.story, [s]);
  }
  const groups: T[][] = [];
  for (const list of byKey.values()) {
    const sorted = [...list].sort((a, b) => cmp(stampOrder(a.first), stampOrder(b.first)) || cmp(stampOrder(a.last), stampOrder(b.last)));
    let group: T[] = [];
    let first = '';
    let last = '';
    for (const s of sorted) {
      const nextLast = group.length > 0 && stampOrder(last) >= stampOrder(s.last) ? last : s.last;
      const near = stampGapMs(last, s.first) < SAME_STORY_WINDOW_MS || stampOrder(s.first) <= stampOrder(last);
      if (group.length > 0 && (s.byVendorId || (near && stampGapMs(first, nextLast) < SAME_STORY_MAX_SPAN_MS))) {
        group.push(s);
        last = nextLast;
        continue;
      }
      if (group.length > 0) groups.push(group);
      group = [s];
      first = s.first;
      last = s.last;
    }
    if (group.length > 0) groups.push(group);
  }
  return groups;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The sighting whose stamp is the latest (the last of equals: an import after the stored row). */
export function latestSighting<T extends StorySighting>(group: readonly T[]): T {
  return group.reduce((best, s) => (stampOrder(s.last) >= stampOrder(best.last) ? s : best));
}

/** The earliest stamp of a group. */
export function earliestStamp(group: readonly StorySighting[]): string {
  return group.reduce((best, s) => (stampOrder(s.first) < stampOrder(best) ? s.first : best), group[0].first);
}
