/**
 * A corpus of malformed (and a few well-formed but awkward) CSV sources, written at test time
 * into a temp folder: nothing big is committed. Each case says what an import of it must end in
 * and what its message must name.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { nyseTradingDaysBetween } from '../../lib/calendar/nyse';

export type CorpusOutcome = 'accepted' | 'rejected' | 'unreadable';

export interface CorpusCase {
  name: string;
  /** File or folder to import. */
  source: string;
  outcome: CorpusOutcome;
  /** The import's error (unreadable), the gate's reasons (rejected) or nothing (accepted) must match. */
  message?: RegExp;
  /** For accepted cases: rows the import must publish. */
  rowsAccepted?: number;
  /** Rules the quarantine of this case must hold (counts), for cases whose findings matter. */
  byRule?: Record<string, number>;
}

const STOOQ_HEADER = 'Date,Open,High,Low,Close,Volume';
const SP500_HEADER = 'date,open,high,low,close,volume,Name';

/** `n` trading days from `from`, with a consistent, gently moving price. */
function days(n: number, from = '2017-01-03'): string[] {
  const [y] = from.split('-').map(Number);
  return nyseTradingDaysBetween(from, `${y + 3}-12-31`).slice(0, n);
}

function ohlcv(i: number, series: number): [string, string, string, string, string] {
  const close = 100 + 5 * Math.sin(i / 9);
  const open = close * 0.995;
  return [open.toFixed(2), (close * 1.01).toFixed(2), (open * 0.99).toFixed(2), close.toFixed(2), String(100_000 * series + i)];
}

/**
 * Each call's rows trade volumes of their own: the same bars with the same volumes under two symbols
 * are one security held twice (lagged_duplicate), which the cases do not mean to test.
 */
let seriesCount = 0;

/** Stooq rows (symbol from the file name). */
export function stooqRows(n: number, from?: string): string[] {
  const series = ++seriesCount;
  return days(n, from).map((d, i) => [d, ...ohlcv(i, series)].join(','));
}

/** S&P 500 rows with the symbol in the last column. */
export function sp500Rows(symbol: string, n: number, from?: string): string[] {
  const series = ++seriesCount;
  return days(n, from).map((d, i) => [d, ...ohlcv(i, series), symbol].join(','));
}

/** Writes `total` characters of `fill` without ever holding them in memory at once. */
async function writeLongLine(file: string, before: string, total: number, after: string): Promise<void> {
  const out = fs.createWriteStream(file);
  const write = (s: string) => new Promise<void>((resolve, reject) => out.write(s, (e) => (e ? reject(e) : resolve())));
  await write(before);
  const block = 'x'.repeat(2 ** 20);
  for (let left = total; left > 0; left -= block.length) await write(left >= block.length ? block : block.slice(0, left));
  await write(after);
  await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
}

/** Builds every case under `root` (one folder per case) and returns them in a stable order. */
export async function buildMalformedCorpus(root: string): Promise<CorpusCase[]> {
  seriesCount = 0;
  const cases: CorpusCase[] = [];
  const folder = (name: string): string => {
    const dir = path.join(root, name);
    fs.mkdirSync(dir, { recursive: true });
    return dir;
  };
  const file = (name: string, fileName: string, content: string | Buffer): string => {
    const p = path.join(folder(name), fileName);
    fs.writeFileSync(p, content);
    return p;
  };
  const csv = (lines: string[]): string => `${lines.join('\n')}\n`;

  cases.push({ name: 'empty file', source: file('empty', 'empty.us.csv', ''), outcome: 'unreadable', message: /empty\.us\.csv as a price table: file is empty/ });
  cases.push({ name: 'header only', source: file('header-only', 'hdr.us.csv', `${STOOQ_HEADER}\n`), outcome: 'unreadable', message: /file holds a header but no data rows/ });
  cases.push({
    name: 'binary',
    source: file('binary', 'image.csv', Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d]), Buffer.alloc(2000, 7)])),
    outcome: 'unreadable',
    message: /binary data \(a NUL byte at offset 8, line 3\)/,
  });
  cases.push({
    name: 'UTF-16 with BOM (decoded)',
    source: file('utf16-bom', 'utfa.us.csv', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(csv([STOOQ_HEADER, ...stooqRows(300)]), 'utf16le')])),
    outcome: 'accepted',
    rowsAccepted: 300,
  });
  cases.push({
    name: 'semicolon-separated',
    source: file('semicolon', 'semi.us.csv', csv([STOOQ_HEADER.replaceAll(',', ';'), ...stooqRows(300).map((r) => r.replaceAll(',', ';'))])),
    outcome: 'unreadable',
    message: /header "Date;Open;High;Low;Close;Volume" is separated by ';' \(semicolon\), not commas/,
  });
  cases.push({
    name: 'tab-separated',
    source: file('tab', 'tab.us.csv', csv([STOOQ_HEADER.replaceAll(',', '\t'), ...stooqRows(300).map((r) => r.replaceAll(',', '\t'))])),
    outcome: 'unreadable',
    message: /header "Date\\tOpen\\tHigh\\tLow\\tClose\\tVolume" is separated by tabs, not commas/,
  });
  cases.push({
    name: 'missing a column',
    source: file('missing-column', 'nov.us.csv', csv(['Date,Open,High,Low,Close', ...stooqRows(300).map((r) => r.slice(0, r.lastIndexOf(',')))])),
    outcome: 'unreadable',
    message: /header "Date,Open,High,Low,Close" matches no known format: closest is stooq .* needs volume \(column "Volume"\)/,
  });
  cases.push({
    name: 'Latin-1 with accents',
    source: file('latin1', 'latin.us.csv', Buffer.from(csv([`${STOOQ_HEADER},Société`, ...stooqRows(300).map((r) => `${r},Crédit Agricole`)]), 'latin1')),
    outcome: 'unreadable',
    message: /not valid UTF-8 \(byte 0xe9 at offset \d+, line 1\); byte 0xe9 is "é" in Latin-1/,
  });
  cases.push({ name: 'only newlines', source: file('newlines', 'nl.us.csv', '\n\n\r\n\n'), outcome: 'unreadable', message: /file holds only blank lines/ });
  cases.push({
    name: 'extra columns on data rows only',
    source: file('extra-columns', 'extra.us.csv', csv([STOOQ_HEADER, ...stooqRows(300).map((r) => `${r},x`)])),
    outcome: 'rejected',
    message: /no usable rows \(300 read, 300 rejected; most frequent: column_count: 300\)/,
    byRule: { column_count: 300 },
  });
  cases.push({
    name: '3% bad rows',
    // high below close on every 33rd row: 9 of 300
    source: file('three-percent', 'thrp.us.csv', csv([STOOQ_HEADER, ...stooqRows(300).map((r, i) => (i % 33 === 32 ? r.replace(/^([^,]+,[^,]+,)[^,]+/, (_m, keep: string) => `${keep}1.00`) : r))])),
    outcome: 'rejected',
    message: /3\.00% of rows rejected \(9 of 300\), above the limit of 2\.00%; most frequent: ohlc_inconsistent: 9/,
    byRule: { ohlc_inconsistent: 9 },
  });
  const goodBad = folder('good-and-bad');
  fs.writeFileSync(path.join(goodBad, 'goodb.us.csv'), csv([STOOQ_HEADER, ...stooqRows(300)]));
  fs.writeFileSync(path.join(goodBad, 'badb.us.csv'), csv([STOOQ_HEADER, ...stooqRows(300).map((r) => r.replace(/,[^,]+,([^,]+)$/, ',n/a?,$1'))]));
  cases.push({
    name: 'good and bad file in one folder',
    source: goodBad,
    outcome: 'rejected',
    message: /50\.00% of rows rejected \(300 of 600\).*non_numeric: 300/,
    byRule: { non_numeric: 300 },
  });
  const longLine = path.join(folder('long-line'), 'longl.us.csv');
  const good = stooqRows(300);
  await writeLongLine(longLine, csv([STOOQ_HEADER, ...good.slice(0, 150)]), 50 * 2 ** 20, `\n${csv(good.slice(150))}`);
  cases.push({ name: '50 MB single line', source: longLine, outcome: 'accepted', rowsAccepted: 300, byRule: { line_too_long: 1 } });

  const secret = path.join(root, 'outside-secret.csv');
  fs.writeFileSync(secret, 'root:$6$notarealhash:19000:0:99999:7:::\n');
  const linked = folder('symlink');
  fs.writeFileSync(path.join(linked, 'goodl.us.csv'), csv([STOOQ_HEADER, ...stooqRows(300)]));
  fs.symlinkSync(secret, path.join(linked, 'shadow.csv'));
  cases.push({ name: 'symlink to a file outside the folder', source: linked, outcome: 'unreadable', message: /shadow\.csv is a symbolic link, which may lead outside/ });

  cases.push({
    name: 'future dates',
    source: file('future', 'futr.us.csv', csv([STOOQ_HEADER, ...stooqRows(300, '2099-01-02')])),
    outcome: 'rejected',
    message: /no usable rows \(300 read, 300 rejected; most frequent: future_date: 300\)/,
    byRule: { future_date: 300 },
  });
  cases.push({
    name: 'embedded newline in a quoted field',
    source: file('embedded-newline', 'embd.us.csv', csv([`${STOOQ_HEADER},Note`, ...stooqRows(300).map((r, i) => (i === 10 ? `${r},"split\n2:1, adjusted"` : `${r},`))])),
    outcome: 'accepted',
    rowsAccepted: 300,
  });
  const symbolCase = (name: string, dir: string, symbol: string): void => {
    cases.push({
      name,
      source: file(dir, 'all.csv', csv([SP500_HEADER, ...sp500Rows(symbol, 300)])),
      outcome: 'rejected',
      message: /no usable rows \(300 read, 300 rejected; most frequent: invalid_symbol: 300\)/,
      byRule: { invalid_symbol: 300 },
    });
  };
  symbolCase('unicode/emoji symbol', 'emoji', '🚀MOON');
  symbolCase('SQL-looking symbol', 'sql', "X'); DROP TABLE bars;--");
  symbolCase('path-like symbol', 'path', '../../ETC/PASSWD');
  symbolCase('40-character symbol', 'long-symbol', 'A'.repeat(40));

  // Cases of our own.
  cases.push({
    name: 'CRLF, UTF-8 BOM and every field quoted',
    source: file('quoted-crlf', 'qcrl.us.csv', `\uFEFF${[STOOQ_HEADER, ...stooqRows(300)].map((r) => r.split(',').map((f) => `"${f}"`).join(',')).join('\r\n')}\r\n`),
    outcome: 'accepted',
    rowsAccepted: 300,
  });
  cases.push({
    name: 'a quote never closed rejects only its own line',
    source: file('unclosed-quote', 'uncl.us.csv', csv([STOOQ_HEADER, ...stooqRows(300).map((r, i) => (i === 20 ? r.replace(',', ',"') : r))])),
    outcome: 'accepted',
    rowsAccepted: 299,
    byRule: { bad_quoting: 1 },
  });
  cases.push({
    name: 'HTML error page saved as CSV',
    source: file('html', 'page.us.csv', '<!DOCTYPE html>\n<html><head><title>503 Service Unavailable</title></head><body>Try later</body></html>\n'),
    outcome: 'unreadable',
    message: /header "<!DOCTYPE html>" matches no known format \(sp500, yahoo, stooq\); pass a column mapping/,
  });
  const fifoDir = folder('fifo');
  let fifoMade = true;
  try {
    execFileSync('mkfifo', [path.join(fifoDir, 'pipe.us.csv')]);
  } catch {
    fifoMade = false;
  }
  if (fifoMade) cases.push({ name: 'named pipe called .csv', source: fifoDir, outcome: 'unreadable', message: /pipe\.us\.csv is not a regular file/ });
  cases.push({
    name: 'terminal escapes in a row are stored escaped',
    source: file('ansi', 'ansi.us.csv', csv([STOOQ_HEADER, ...stooqRows(300).map((r, i) => (i === 5 ? r.replace(/,[^,]+$/, ',\u001b[2J\u001b[31mPWNED\u0007') : r))])),
    outcome: 'accepted',
    rowsAccepted: 299,
    byRule: { non_numeric: 1 },
  });
  cases.push({
    name: 'UTF-16 without a BOM',
    source: file('utf16-nobom', 'utfb.us.csv', Buffer.from(csv([STOOQ_HEADER, ...stooqRows(30)]), 'utf16le')),
    outcome: 'unreadable',
    message: /UTF-16 text without a byte-order mark/,
  });
  cases.push({
    name: 'file name gives no valid symbol',
    source: file('bad-name', 'a b!.csv', csv([STOOQ_HEADER, ...stooqRows(300)])),
    outcome: 'unreadable',
    message: /it has no symbol column and its symbol "A B!" \(from the file name\) is not valid/,
  });
  return cases;
}
