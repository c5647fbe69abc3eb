/**
 * A function's results remembered per argument, for the hot paths that ask the same few questions
 * again and again (a batch of bars holds a handful of dates, each seen in hundreds of entries).
 * The map is emptied when it reaches `maxEntries`, so a long-running process cannot grow it
 * without bound; the default keeps everything (for maps that live as long as one job).
 */
export function memoize<K, V>(compute: (key: K) => V, maxEntries = Infinity): (key: K) => V {
  const known = new Map<K, V>();
  return (key) => {
    let value = known.get(key);
    if (value === undefined) {
      if (known.size >= maxEntries) known.clear();
      value = compute(key);
      known.set(key, value);
    }
    return value;
  };
}
