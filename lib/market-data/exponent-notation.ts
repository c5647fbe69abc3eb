/**
 * Numbers written in exponent notation (`1.54E+02`, `2.15E+07`) and whether they still give the
 * value: a spreadsheet's scientific format rounds prices and volumes to a few digits, and read as
 * written such a number revises stored bars with no finding. Used by the CSV reader
 * (imprecise_price, imprecise_volume) and by the live bar decoder (lib/streaming/live-bar.ts), so a
 * number is judged alike whichever path it comes by.
 */
import { excerpt } from '../quality/excerpt';
import { quoteTick } from './bar';

/** Where numbers were written: a file's rows (an import) or one stream message (the live consumer). It words the findings. */
export type WrittenIn = 'file' | 'message';
const ADVICE: Record<WrittenIn, { price: string; volume: string }> = {
  file: { price: 'Export the price columns as decimals', volume: 'Export the volume column as whole numbers' },
  message: { price: 'send prices as decimals (String(n))', volume: 'send the volume as a whole number' },
};

/**
 * A number written in exponent notation: how many significant digits its mantissa holds (leading
 * zeros not counted, trailing ones were written, so they count) and the power of ten of its last
 * digit (`1.54E+02`: 3 digits, place 0; `1.5385E+02`: 5, place -2). Undefined without an exponent.
 */
export function exponentForm(text: string): { digits: number; place: number } | undefined {
  const at = text.search(/[eE]/);
  if (at < 0) return undefined;
  const mantissa = text.slice(0, at).replace(/^[+-]/, '');
  const point = mantissa.indexOf('.');
  const decimals = point < 0 ? 0 : mantissa.length - point - 1;
  return { digits: mantissa.replace('.', '').replace(/^0+/, '').length, place: Number(text.slice(at + 1)) - decimals };
}

/** The power of ten of the last digit of a price written without an exponent (`153.85`: -2, `154`: 0). */
export function plainPlace(text: string): number {
  const point = text.indexOf('.');
  return point < 0 ? 0 : -(text.length - point - 1);
}

/** `10 ** place` as written out: 0.001, 1, 100. */
const placeText = (place: number): string => (place >= 0 ? String(10 ** place) : (10 ** place).toFixed(-place));

/**
 * Whether a price in exponent notation is the shortest exact form of its value, as R and Python
 * write one (`1e+05` for 100000, `1.5e-05`): shorter than the value written out, and its mantissa
 * ends in no zero or point, where a fixed format (Excel's 0.00E+00) pads it (`1.00E+05`). Such a
 * text states the value exactly, however few its digits.
 */
function shortestExponentForm(text: string, value: number): boolean {
  return !/[0.][eE]/.test(text) && text.replace(/^[+-]/, '').length < String(value).length;
}

/** The message of an imprecise_price finding: the field as written, its precision and what it falls short of. */
function impreciseMessage(field: string, text: string, form: { digits: number; place: number }, shortOf: string, example: string, writtenIn: WrittenIn): string {
  return `${field} "${excerpt(text, 40)}" is written in exponent notation with ${form.digits} significant digit${form.digits === 1 ? '' : 's'}, to the nearest ${placeText(form.place)}, ${shortOf}: a spreadsheet's scientific format rounded it (${example}), so the price is unknown; rejected, and a stored bar of the date is kept. ${ADVICE[writtenIn].price}`;
}

/**
 * Why a price written in exponent notation does not give the price: its last digit stands for more
 * than the step the price is quoted in (quoteTick: a cent, 0.0001 under 1), so the writer rounded
 * it. Excel's 0.00E+00 writes 153.85 as `1.54E+02`; read as written, the last 20 rows of IBM so
 * re-exported revised all 20 stored bars (2018-02-07 close 153.85 → 154) with no finding. A
 * mantissa holding the cent (`1.5385E+02`, `1.2345678E-01`) is read as before, and so is the
 * shortest exact form of a price (shortestExponentForm). A price written to the cent but more
 * coarsely than the file's (or message's) other prices is judged once they are read (coarserThanWritten).
 */
export function imprecisePrice(text: string, value: number, field: string, writtenIn: WrittenIn = 'file'): string | undefined {
  const form = exponentForm(text);
  if (form === undefined || !(value > 0) || shortestExponentForm(text, value)) return undefined;
  const tick = quoteTick(value);
  if (form.place <= Math.round(Math.log10(tick))) return undefined;
  const shortOf = tick === 0.01 ? 'short of the cent (0.01) prices of 1 or more are quoted to' : `short of the ${placeText(Math.round(Math.log10(tick)))} prices under 1 are quoted to`;
  return impreciseMessage(field, text, form, shortOf, 'Excel writes 153.85 as 1.54E+02', writtenIn);
}

/** A bar's price fields written in exponent notation, as read (coarserThanWritten judges them). */
export type ExponentPrice = { field: string; text: string; value: number; form: { digits: number; place: number } };

/**
 * The rows whose prices in exponent notation are written more coarsely than the file's other
 * prices (the median place of the last digit of its prices written out, over the rows read): a
 * spreadsheet rounded them (1.5385E+02 among prices of 4 decimals such as 153.8523), even where
 * they hold the cent. `places` counts the file's written-out prices by the place of their last digit.
 * A stream message is judged as a one-row file: its own prices written out set the standard.
 */
export function coarserThanWritten<Row>(exponentPrices: ReadonlyMap<Row, readonly ExponentPrice[]>, places: ReadonlyMap<number, number>, writtenIn: WrittenIn = 'file'): Array<{ bar: Row; message: string }> {
  let n = 0;
  for (const c of places.values()) n += c;
  if (n === 0 || exponentPrices.size === 0) return [];
  // The upper median (the coarser of two middles): a file's finest few prices set no standard.
  let seen = 0;
  let median = 0;
  for (const place of [...places.keys()].sort((a, b) => a - b)) {
    seen += places.get(place) as number;
    if (seen > Math.floor(n / 2)) {
      median = place;
      break;
    }
  }
  const out: Array<{ bar: Row; message: string }> = [];
  for (const [bar, written] of exponentPrices) {
    const coarse = written.find((w) => w.form.place > median && !shortestExponentForm(w.text, w.value));
    if (coarse === undefined) continue;
    out.push({ bar, message: impreciseMessage(coarse.field, coarse.text, coarse.form, `coarser than the ${placeText(median)} the ${writtenIn}'s other prices are written to`, 'Excel writes 153.8523 as 1.5385E+02', writtenIn) });
  }
  return out;
}

/**
 * Why a volume written in exponent notation does not give the number of shares: its mantissa has
 * fewer significant digits than the value has digits to the units (`1.82E+06`: 3 of 7), so the
 * writer rounded it (a spreadsheet's scientific format: Excel writes 1,824,755 as 1.82E+06).
 * Read as written, an Excel re-export of A's history revised all 1,233 stored volumes
 * (1,824,755 → 1,820,000), each logged as a revision, with no finding. A mantissa holding every
 * digit (`1.824755E+06`) is exact and read as before, and so is a round volume written shorter
 * than its digits (`1e+05` for 100000, `1.2e+07`): writers of the shortest exact form (R) use the
 * exponent only then, where a fixed format (Excel's 0.00E+00) writes every volume alike, as long or
 * longer than the number (`1.82E+06`, 8 characters for 7 digits). A fixed format of one digit
 * (`2E+06`) cannot be told from the shortest form and is read as written.
 */
export function impreciseVolume(text: string, value: number, writtenIn: WrittenIn = 'file'): string | undefined {
  const form = exponentForm(text);
  if (form === undefined || !(value >= 1)) return undefined;
  const written = form.digits;
  const needed = Math.floor(Math.log10(value) + 1e-9) + 1;
  if (written >= needed) return undefined;
  // Shorter than the number written out: the shortest exact form of a round volume, not a rounding.
  if (Number.isInteger(value) && text.replace(/^[+-]/, '').length < needed) return undefined;
  return `volume "${excerpt(text, 40)}" is written in exponent notation with ${written} significant digit${written === 1 ? '' : 's'}, short of the ${needed} of its ${Math.round(value).toLocaleString('en-US')} shares: a spreadsheet's scientific format rounded it (Excel writes 1,824,755 as 1.82E+06), so the shares traded are unknown; rejected, and a stored bar of the date is kept. ${ADVICE[writtenIn].volume}`;
}
