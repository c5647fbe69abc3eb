/**
 * Stream entries the consumer group lost: trimmed by the producer's MAXLEN before the group read them
 * (XREADGROUP goes past them without a trace), or while they were pending (XAUTOCLAIM names them).
 * Their bars were never stored, and nothing comes back by itself: the consumer counts them
 * (stream_entries_trimmed_total), logs them and raises a `stream_entries_lost` alert.
 */
import type { AlertInput } from '../alerts/alert';
import { entryTimeMs } from './live-bar';

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
