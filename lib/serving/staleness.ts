/**
 * How old a served prediction's features are: the trading sessions whose bars were due (their
 * close plus the grace, lib/monitoring/freshness.ts) after the vector's as-of date. A prediction
 * from Tuesday's features asked for on Wednesday evening is one session behind; a client trading
 * on it should know, so every answer says so instead of looking as current as any other.
 */
import { latestExpectedSession, tradingDaysBehind } from '../monitoring/freshness';

/** The latest session whose bar is due, recomputed at most once a minute (it changes at most once a day). */
export class ExpectedSessionClock {
  private minute = Number.NaN;
  private session = '';

  constructor(private readonly graceMinutes: number) {}

  at(now: Date): string {
    const minute = Math.floor(now.getTime() / 60_000);
    if (minute !== this.minute) {
      this.session = latestExpectedSession(now, this.graceMinutes);
      this.minute = minute;
    }
    return this.session;
  }
}

export interface Staleness {
  /** Sessions whose bars were due after the features' as-of date (0: the features are current). */
  sessionsBehind: number;
  stale: boolean;
}

/** Staleness of features as of `asOf` (an ISO date) when `expectedSession` is the latest session due. */
export function stalenessOf(asOf: string, expectedSession: string): Staleness {
  const sessionsBehind = tradingDaysBehind(asOf.slice(0, 10), expectedSession);
  return { sessionsBehind, stale: sessionsBehind > 0 };
}
