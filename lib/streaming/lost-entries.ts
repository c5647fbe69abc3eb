/**
 * Stream entries the consumer group lost: trimmed by the producer's MAXLEN before the group read them
 * (XREADGROUP goes past them without a trace), or while they were pending (XAUTOCLAIM names them).
 * Their bars were never stored, and nothing comes back by itself: the consumer counts them
 * (stream_entries_trimmed_total), logs them and raises a `stream_entries_lost` alert.
 */
import type { AlertInput } from '../alerts/alert';
import { entryTimeMs } from './live-bar';
import type { StreamLost } from './redis-streams';

export const STREAM_ENTRIES_LOST_RULE = 'stream_entries_lost';

export interface LostEntries {
  count: number;
  /** `unread`: trimmed before the group read them; `pending`: read, trimmed before acknowledged. */
  when: 'unread' | 'pending';
  /** Unread: the group's last-delivered id, which they came after; pending: the first lost id. */
  after?: string;
  /** Unread: the stream's first entry left, which they came before; pending: the last lost id. */
  before?: string;
  /** Unread, the stream empty: the newest id, through which they ran. */
  through?: string;
}

const timeOf = (id: string): string => new Date(entryTimeMs(id)).toISOString();

/** The ids (and append times) of the lost entries, as far as they are known. */
function rangeOf(lost: LostEntries): string {
  if (lost.when === 'pending') return lost.after === lost.before ? `id ${lost.after}` : `ids ${lost.after}..${lost.before}`;
  const after = lost.after === undefined || lost.after === '0-0' ? 'from the start of the stream' : `after id ${lost.after} (appended ${timeOf(lost.after)})`;
  const end = lost.before !== undefined ? `before id ${lost.before} (appended ${timeOf(lost.before)})` : lost.through !== undefined ? `through id ${lost.through} (appended ${timeOf(lost.through)})` : '';
  return end ? `${after}, ${end}` : after;
}

/** The log line (and alert message) naming how many entries were lost, which, and what to do. */
export function lostEntriesMessage(key: string, group: string, lost: LostEntries): string {
  const what = lost.when === 'unread' ? `were trimmed from ${key} (MAXLEN) before group ${group} read them` : `pending in group ${group} were trimmed from ${key} (MAXLEN) before they were processed`;
  return (
    `${lost.count} ${lost.count === 1 ? 'entry' : 'entries'} ${what}, ${rangeOf(lost)}: their bars were never stored. ` +
    "Raise the producer's MAXLEN above the backlog the consumers fall behind by (or let it wait for them: --max-backlog), then import or replay the bars of that period"
  );
}

/** The alert of lost entries: critical (bars are missing from the store until someone imports them), one subject per stream. */
export function lostEntriesAlert(key: string, group: string, consumer: string, lost: LostEntries): AlertInput {
  return {
    rule: STREAM_ENTRIES_LOST_RULE,
    severity: 'critical',
    subject: `stream ${key}`.slice(0, 255),
    message: lostEntriesMessage(key, group, lost),
    evidence: { stream: key, group, consumer, ...lost },
  };
}

/**
 * The consumer group was deleted under a running consumer (XGROUP DESTROY, the stream deleted or
 * replaced): every read failed with NOGROUP and no live bar was stored until someone noticed. The
 * consumer creates it again after the last entry it processed (not at 0, which replays the whole
 * stream, nor at $, which skips what came meanwhile) and raises this alert.
 */
export const STREAM_GROUP_LOST_RULE = 'stream_group_lost';

export interface LostGroup {
  /** The group was created again after this entry id: the entries after it are read (0-0 when the stream was lost). */
  resumedAfter: string;
  /** How that position was known: the last entry this consumer processed, just before its oldest batch that failed (pending, dropped with the group), or the group's position when the consumer started. */
  from: 'processed' | 'failed' | 'started';
  /** The stream's first entry (its newest id when empty) was after the position: entries up to it may have been trimmed, uncounted. */
  firstAfterGap?: string;
  /** Why reads failed (Redis's NOGROUP message). */
  error: string;
  /**
   * The stream went with the group: `missing`, the key was gone; `replaced`, the stream there did not
   * hold an entry this consumer had read, and never lost one (neither trimmed nor deleted from): producers wrote to a new stream since.
   * Either way Redis lost its data (a restart without persistence) or the stream was deleted.
   */
  streamLost?: StreamLost;
}

export function groupLostMessage(key: string, group: string, lost: LostGroup): string {
  const position = lost.streamLost !== undefined ? 'from the start of the new stream' : lost.resumedAfter === '0-0' ? 'from the start of the stream' : lost.resumedAfter === '$' ? 'after its newest entry' : `after id ${lost.resumedAfter} (appended ${timeOf(lost.resumedAfter)})`;
  const why =
    lost.streamLost !== undefined
      ? 'since the stream it was created on is gone (its ids need not follow the lost one\'s: a restarted Redis whose clock is behind gives smaller ones)'
      : lost.from === 'processed' ? 'the last entry this consumer processed' : lost.from === 'failed' ? 'just before the oldest batch of this consumer that failed and was still to be retried' : 'where the group was when this consumer started (it had processed nothing since)';
  // A lost stream took every entry before its new first one: the sentence on it says so (trimming has nothing to do with it).
  const gap = lost.firstAfterGap === undefined || lost.streamLost !== undefined ? '' : ` The stream holds nothing between that position and id ${lost.firstAfterGap} (appended ${timeOf(lost.firstAfterGap)}): entries appended in between may have been trimmed (MAXLEN) and cannot be counted; import or replay the bars of that period.`;
  const stream =
    lost.streamLost === undefined
      ? ''
      : `${lost.streamLost === 'missing' ? ` The stream ${key} itself was gone` : ` The stream ${key} itself had been replaced (it does not hold the entries this consumer read, yet never lost one: producers wrote to a new one since)`}: Redis lost its data (restarted without persistence?) or the stream was deleted. Entries appended before that and not yet stored are lost with it: import or replay the bars of that period. Every symbol's online vector is written again, from windows read again from the store.`;
  return (
    `Consumer group ${group} of ${key} was ${lost.streamLost === undefined ? 'deleted' : 'lost'} while consumers were reading it (${lost.error.slice(0, 200)}); it was created again and reads go on ${position}, ${why}. ` +
    `Entries after it are read again (a repeat changes nothing); any at or before it that another consumer of the group had read and not acknowledged were dropped with the group.${stream}${gap}`
  );
}

/**
 * The alert of a lost group: critical (no live bar was stored while it was missing), one subject per
 * stream and group, and another when the stream went with it (Redis lost its data): the cool-down of
 * a group reset by hand (harmless) would otherwise hide a data loss hours later. Every consumer of
 * the group that finds the loss still raises one alert between them.
 */
export function groupLostAlert(key: string, group: string, consumer: string, lost: LostGroup): AlertInput {
  return {
    rule: STREAM_GROUP_LOST_RULE,
    severity: 'critical',
    subject: (lost.streamLost === undefined ? `stream ${key} group ${group}` : `stream ${key} lost with group ${group}`).slice(0, 255),
    message: groupLostMessage(key, group, lost),
    evidence: { stream: key, group, consumer, ...lost },
  };
}
