/**
 * Progress of a followed run, written to stderr (stdout stays for results): on a terminal one live
 * line with a bar, redrawn in place; otherwise (a pipe, a CI log) one short line per change. What it
 * shows comes from the worker (stage details quote files and reasons, heartbeats, activity names):
 * every line is escaped (escapeControl), so none can drive the terminal or fake a line.
 */

import { escapeControl } from '../lib/quality/excerpt';

/** One thing being watched (a stage, a running activity, a training child) and its current state. */
export interface ProgressItem {
  /** Stable key: a change of `text` under the same key is one change. */
  key: string;
  text: string;
  /** Done share 0..1 when something can be counted. */
  fraction?: number;
  /** Shown on the live line (running work); finished stages are only summarised there. */
  active: boolean;
}

/** What a heartbeat of an activity reports: ingest bars/files, feature symbols, training folds. */
export interface HeartbeatDetail {
  phase?: string;
  chunk?: number;
  chunks?: number;
  barsWritten?: number;
  barsTotal?: number;
  symbolsDone?: number;
  symbolsTotal?: number;
  rowsWritten?: number;
  folds?: number;
}

/** "reading 3/12 files, 120000/480000 bars" — counts only once there is something to count. */
export function describeHeartbeat(detail: HeartbeatDetail | undefined): { text: string; fraction?: number } {
  if (!detail) return { text: '' };
  const parts: string[] = [];
  let fraction: number | undefined;
  if ((detail.chunks ?? 0) > 0) {
    parts.push(`${detail.chunk ?? 0}/${detail.chunks} ${detail.phase === 'reading' ? 'files' : 'chunks'}`);
    fraction = (detail.chunk ?? 0) / (detail.chunks as number);
  }
  if ((detail.barsTotal ?? 0) > 0) {
    parts.push(`${detail.barsWritten ?? 0}/${detail.barsTotal} bars`);
    fraction = (detail.barsWritten ?? 0) / (detail.barsTotal as number);
  } else if ((detail.barsWritten ?? 0) > 0) parts.push(`${detail.barsWritten} bars`);
  if ((detail.symbolsTotal ?? 0) > 0) {
    parts.push(`${detail.symbolsDone ?? 0}/${detail.symbolsTotal} symbols`);
    fraction = (detail.symbolsDone ?? 0) / (detail.symbolsTotal as number);
  }
  if ((detail.rowsWritten ?? 0) > 0) parts.push(`${detail.rowsWritten} rows`);
  if ((detail.folds ?? 0) > 0) parts.push(`${detail.folds} folds`);
  const counts = parts.join(', ');
  const text = [detail.phase, counts].filter((s) => s !== undefined && s !== '').join(' ');
  return { text, fraction: fraction === undefined ? undefined : Math.max(0, Math.min(1, fraction)) };
}

/** `[▓▓▓▓░░░░░░]` for a share 0..1. */
export function bar(fraction: number, width = 10): string {
  const filled = Math.round(Math.max(0, Math.min(1, fraction)) * width);
  return `${'▓'.repeat(filled)}${'░'.repeat(width - filled)}`;
}

/** Lines for a log (not a terminal): one per item that is new or changed since `previous`. */
export function changedLines(previous: readonly ProgressItem[], next: readonly ProgressItem[]): string[] {
  const before = new Map(previous.map((i) => [i.key, i.text]));
  return next.filter((i) => before.get(i.key) !== i.text).map((i) => escapeControl(`${i.key}: ${i.text}`));
}

/** The live terminal line: finished stages as ticks, then what is running with a bar, cut to `columns`. */
export function liveLine(items: readonly ProgressItem[], columns: number): string {
  const finished = items.filter((i) => !i.active && /^completed/.test(i.text)).map((i) => `${i.key} ✓`);
  const failed = items.filter((i) => !i.active && /^failed/.test(i.text)).map((i) => `${i.key} ✗`);
  const running = items.filter((i) => i.active).map((i) => `${i.fraction !== undefined ? `${bar(i.fraction)} ` : ''}${i.key}${i.text ? ` ${i.text}` : ''}`);
  // Escaped before it is cut, so that the cut never splits an escape.
  const line = escapeControl([...finished, ...failed, ...running].join(' | '));
  const width = Math.max(20, columns - 1);
  return line.length > width ? `${line.slice(0, width - 1)}…` : line;
}

export interface ProgressSink {
  update(items: readonly ProgressItem[]): void;
  /** Ends the live line (a terminal) so that what follows starts on its own line. */
  finish(): void;
  /** A line of its own about the following itself (not the run's progress), e.g. contact with Temporal lost. */
  note(line: string): void;
}

/** Writes progress to `stream` (stderr by default): a live line on a terminal, change lines otherwise. */
export function progressSink(stream: NodeJS.WritableStream & { isTTY?: boolean; columns?: number } = process.stderr, indent = '  '): ProgressSink {
  let previous: ProgressItem[] = [];
  let shown = '';
  if (stream.isTTY) {
    return {
      update(items) {
        const line = liveLine(items, (stream.columns || 100) - indent.length);
        if (line === shown) return;
        stream.write(`\r\x1b[2K${indent}${line}`);
        shown = line;
      },
      finish() {
        if (shown) stream.write('\n');
        shown = '';
      },
      note(line) {
        // Over the live line, which the next update draws again below it.
        stream.write(`\r\x1b[2K${indent}${escapeControl(line)}\n`);
        shown = '';
      },
    };
  }
  return {
    update(items) {
      for (const line of changedLines(previous, items)) stream.write(`${indent}${line}\n`);
      previous = [...items];
    },
    finish() {},
    note(line) {
      stream.write(`${indent}${escapeControl(line)}\n`);
    },
  };
}
