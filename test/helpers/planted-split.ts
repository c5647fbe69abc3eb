import fs from 'node:fs';

/**
 * Rewrites a generated market file (date,open,high,low,close,volume,Name) so that its rows from
 * `date` on are what an unadjusted split leaves (2:1 unless `ratio` says: 1.5 is 3:2): prices
 * divided by it, volume multiplied. With
 * `steadyVolume`, every volume is first made steady (the generator's swing threefold from day to
 * day), so the unadjusted_split rule finds the split on its first day, as a live bar, and on every
 * day after it: for tests of what is done with a split found, not of how often one is found.
 */
export function plantSplit(file: string, date: string, options: { steadyVolume?: boolean; ratio?: number } = {}): void {
  const ratio = options.ratio ?? 2;
  const [header, ...lines] = fs.readFileSync(file, 'utf8').trim().split('\n');
  const planted = lines.map((line, k) => {
    const [d, open, high, low, close, stored, name] = line.split(',');
    const volume = options.steadyVolume ? 1_000_000 + (k % 7) * 10_000 : Number(stored);
    if (d < date) return options.steadyVolume ? [d, open, high, low, close, String(volume), name].join(',') : line;
    const split = (x: string) => (Number(x) / ratio).toFixed(3);
    return [d, split(open), split(high), split(low), split(close), String(Math.round(volume * ratio)), name].join(',');
  });
  fs.writeFileSync(file, [header, ...planted].join('\n') + '\n');
}
