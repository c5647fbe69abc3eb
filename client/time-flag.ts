/** A time flag of the CLI (--from, --to, --since): a calendar date or an ISO time, validated. */
import { isIsoDate } from '../lib/calendar/dates';
import { lazy } from './lazy';

/** YYYY-MM-DD (the UTC day's start, or its end when `end`) or an ISO time with its zone → a Date; anything else (2026-02-30, "yesterday") is refused. */
export const instant = (end: boolean) => {
  const { z } = lazy.zod();
  return z.string().transform((s, ctx) => {
    const value = /^\d{4}-\d{2}-\d{2}$/.test(s) ? `${s}T${end ? '23:59:59.999' : '00:00:00.000'}Z` : s;
    const date = new Date(value);
    // A calendar date that does not exist (2026-02-30) is refused, not rolled over to March.
    if (!/^\d{4}-\d{2}-\d{2}T/.test(value) || Number.isNaN(date.getTime()) || !isIsoDate(value.slice(0, 10))) {
      ctx.addIssue({ code: 'custom', message: 'expected a date (YYYY-MM-DD) or an ISO time such as 2026-03-02T21:30:00Z' });
      return z.NEVER;
    }
    // A time without its zone would be read in this machine's zone: one command, two machines, hours apart.
    if (!/(?:Z|[+-]\d{2}:?\d{2})$/i.test(value)) {
      ctx.addIssue({ code: 'custom', message: `${s} has no time zone; end it with Z (UTC) or an offset such as -05:00 (New York in winter)` });
      return z.NEVER;
    }
    return date;
  });
};
