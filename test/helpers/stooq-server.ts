import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { nyseTradingDaysBetween } from '../../lib/calendar/nyse';

export type StooqRoute = { type?: string; body: string };

export interface StooqServer {
  url: string;
  /** The answer per ticker (`aaa.us`); a ticker without one is answered "No data", as Stooq does. */
  routes: Map<string, StooqRoute>;
  /** Requests so far for `ticker`. */
  requests: (ticker: string) => number;
  close: () => Promise<void>;
}

/** A Stooq-like server whose answer per ticker the test sets, counting requests per ticker. */
export function startStooq(): Promise<StooqServer> {
  const routes = new Map<string, StooqRoute>();
  const asked: string[] = [];
  const server = http.createServer((req, res) => {
    const ticker = new URL(req.url ?? '/', 'http://localhost').searchParams.get('s') ?? '';
    asked.push(ticker);
    const route = routes.get(ticker) ?? { body: 'No data' };
    res.writeHead(200, { 'content-type': route.type ?? 'text/csv' }).end(route.body);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({ url: `http://127.0.0.1:${port}`, routes, requests: (ticker) => asked.filter((t) => t === ticker).length, close: () => new Promise((r) => server.close(() => r())) });
    }),
  );
}

/** Stooq's header line, the whole of a header-only answer but its line break. */
export const STOOQ_HEADER = 'Date,Open,High,Low,Close,Volume';

/**
 * Stooq's CSV of `symbol`'s series over the NYSE sessions of [from, to] (holidays left out, as Stooq
 * does): a random walk seeded by the symbol, so no two symbols share a series and one symbol's
 * answers for overlapping ranges agree. `drop` leaves rows out at either end; `mangle` rewrites rows
 * (by index among those kept, and their fields) before they are joined.
 */
export function stooqBody(symbol: string, from: string, to: string, drop: { first?: number; last?: number } = {}, mangle?: (fields: string[], index: number) => string[]): string {
  let state = [...symbol].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7);
  const next = (): number => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  let close = 20 + 60 * next();
  const rows: string[][] = [];
  for (const date of nyseTradingDaysBetween('2015-01-01', to)) {
    close *= 1 + (next() - 0.5) * 0.03;
    const open = close * (1 + (next() - 0.5) * 0.01);
    const row = [date, open, Math.max(open, close) * 1.004, Math.min(open, close) * 0.996, close].map((v) => (typeof v === 'number' ? v.toFixed(2) : v));
    const volume = String(Math.round(1_000_000 + 500_000 * next()));
    if (date >= from) rows.push([...row, volume]);
  }
  const kept = rows.slice(drop.first ?? 0, rows.length - (drop.last ?? 0)).map((fields, k) => (mangle ? mangle(fields, k) : fields));
  return [STOOQ_HEADER, ...kept.map((f) => f.join(','))].join('\n') + '\n';
}
