/**
 * Calendar dates as ISO strings ('YYYY-MM-DD') with integer day arithmetic.
 * No Date objects and no local time: a date is a day number, so time zones and DST cannot shift it.
 */

export interface DateParts {
  year: number;
  /** 1..12 */
  month: number;
  /** 1..31 */
  day: number;
}

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

export function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

export function daysInMonth(year: number, month: number): number {
  if (month === 2) return isLeapYear(year) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

function tryParse(s: string): DateParts | undefined {
  if (typeof s !== 'string') return undefined;
  const m = ISO_DATE.exec(s);
  if (!m) return undefined;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  return { year, month, day };
}

/** Strict 'YYYY-MM-DD' that is also a real Gregorian date (2019-02-29 is not). */
export function isIsoDate(s: string): boolean {
  return tryParse(s) !== undefined;
}

export function parseIsoDate(iso: string): DateParts {
  const parts = tryParse(iso);
  if (!parts) throw new RangeError(`Not an ISO date (YYYY-MM-DD): ${JSON.stringify(iso)}`);
  return parts;
}

export function formatIsoDate(year: number, month: number, day: number): string {
  const iso = `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
  if (!Number.isInteger(year) || year < 0 || year > 9999 || !isIsoDate(iso)) {
    throw new RangeError(`Not a calendar date: year=${year} month=${month} day=${day}`);
  }
  return iso;
}

// Howard Hinnant's days_from_civil / civil_from_days: exact integer maths, proleptic Gregorian.
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function civilFromDays(epochDay: number): DateParts {
  const z = epochDay + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  return { year, month, day };
}

/** Days since 1970-01-01 (which is day 0); negative before it. */
export function toEpochDay(iso: string): number {
  const { year, month, day } = parseIsoDate(iso);
  return daysFromCivil(year, month, day);
}

/** Inverse of toEpochDay; years must stay within 0000..9999 so the result is a valid ISO string. */
export function fromEpochDay(epochDay: number): string {
  if (!Number.isSafeInteger(epochDay)) throw new RangeError(`Epoch day must be an integer, got ${epochDay}`);
  const { year, month, day } = civilFromDays(epochDay);
  return formatIsoDate(year, month, day);
}

export function addDays(iso: string, days: number): string {
  if (!Number.isSafeInteger(days)) throw new RangeError(`Day offset must be an integer, got ${days}`);
  return fromEpochDay(toEpochDay(iso) + days);
}

/** 0 = Sunday .. 6 = Saturday, like Date#getUTCDay. */
export function weekdayOf(iso: string): number {
  // 1970-01-01 was a Thursday (4).
  return (((toEpochDay(iso) + 4) % 7) + 7) % 7;
}

/** -1, 0 or 1; usable directly as an Array#sort comparator. */
export function compareIsoDates(a: string, b: string): number {
  const da = toEpochDay(a);
  const db = toEpochDay(b);
  return da < db ? -1 : da > db ? 1 : 0;
}
