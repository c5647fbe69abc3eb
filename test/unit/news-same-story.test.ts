import { parseHeadlinesCsv } from '../../lib/news/headlines';
import { groupSameStories, latestSighting, normaliseHeadline, stampGapMs, stampOrder, storyKey, type StorySighting } from '../../lib/news/same-story';

/** Each parsed headline as a sighting; the groups as their stamps. */
function stories(csv: string): string[][] {
  const { headlines, errors } = parseHeadlinesCsv(csv, 'news.csv');
  expect(errors).toEqual([]);
  const sightings = headlines.map((h): StorySighting & { text: string } => ({ story: storyKey(h.symbol, h.headline, h.vendorId), byVendorId: h.vendorId !== undefined, first: h.published, last: h.published, text: h.headline }));
  return groupSameStories(sightings).map((g) => g.map((s) => `${s.first} ${s.text}`));
}

describe('the same story', () => {
  it('ignores case, punctuation and spacing, not words, numbers or the symbol', () => {
    expect(normaliseHeadline('Acme beats estimates; shares  SURGE.')).toBe(normaliseHeadline('acme beats estimates, shares surge'));
    expect(normaliseHeadline('Acme up 3.5%')).not.toBe(normaliseHeadline('Acme up 35%'));
    expect(storyKey('ACME', 'Acme recall')).toBe(storyKey('ACME', 'ACME RECALL!'));
    expect(storyKey('ACME', 'Acme recall')).not.toBe(storyKey(null, 'Acme recall'));
    expect(storyKey('ACME', 'Acme recall', 'v-1')).toBe(storyKey('ACME', 'Acme recall corrected', 'v-1'));
    expect(storyKey('ACME', 'Acme recall', 'v-1')).not.toBe(storyKey('ACME', 'Acme recall'));
  });

  it('orders a date without its time after every time of that day, and measures the gap between stamps', () => {
    expect(stampOrder('2017-03-01') > stampOrder('2017-03-01 23:59')).toBe(true);
    expect(stampOrder('2017-03-01') < stampOrder('2017-03-02 00:00')).toBe(true);
    expect(stampGapMs('2017-03-01 15:30', '2017-03-01 16:30')).toBe(3600_000);
    expect(stampGapMs('2017-03-01', '2017-03-01 10:00')).toBe(0); // the date may mean that time
    expect(stampGapMs('2017-03-01', '2017-03-02 01:00')).toBe(3600_000);
    expect(stampGapMs('2017-03-01', '2017-03-03')).toBe(24 * 3600_000);
  });

  it('is one headline within 24 hours of its earliest stamp, at the latest stamp seen', () => {
    const groups = stories(
      'date,time,symbol,headline\n' +
        '2017-03-01,15:30,ACME,Acme plunges\n' +
        '2017-03-01,16:30,ACME,ACME plunges.\n' + // the vendor's corrected time
        '2017-03-01,,ACME,Acme plunges\n' + // a feed without the time
        '2017-03-01,15:30,BETA,Acme plunges\n' + // another symbol
        '2017-03-06,09:30,,Stocks rise at the open\n' +
        '2017-03-07,09:30,,Stocks rise at the open\n' + // 24 hours later: the next day's
        '2017-03-08,09:25,,Stocks rise at the open\n', // within 24 hours of the 7th's
    );
    expect(groups).toEqual([
      ['2017-03-01 15:30 Acme plunges', '2017-03-01 16:30 ACME plunges.', '2017-03-01 Acme plunges'],
      ['2017-03-01 15:30 Acme plunges'],
      ['2017-03-06 09:30 Stocks rise at the open'],
      ['2017-03-07 09:30 Stocks rise at the open', '2017-03-08 09:25 Stocks rise at the open'],
    ]);
    const [acme] = groupSameStories(parseHeadlinesCsv('date,time,symbol,headline\n2017-03-01,16:30,ACME,Acme plunges\n2017-03-01,15:30,ACME,Acme plunges\n', 'x.csv').headlines.map((h) => ({ story: storyKey(h.symbol, h.headline), byVendorId: false, first: h.published, last: h.published })));
    expect(latestSighting(acme).last).toBe('2017-03-01 16:30');
  });

  it('a copy within 24 hours of any stamp of a story joins it, so the outcome does not depend on the order of the stamps', () => {
    const sighting = (first: string, last = first): StorySighting => ({ story: 'k', byVendorId: false, first, last });
    // Stored: 16:30 Mon merged with 15:45 Tue. The original 15:30 Mon is 24 h 15 min from the latest, 1 h from the earliest.
    const merged = groupSameStories([sighting('2017-03-06 16:30', '2017-03-07 15:45'), sighting('2017-03-06 15:30')]);
    expect(merged.map((g) => g.length)).toEqual([1 + 1]);
    expect(latestSighting(merged[0]).last).toBe('2017-03-07 15:45');
    // Tue 15:00 and 15:45 stored first, then Mon 15:30: one story, as when imported one by one in time order.
    expect(groupSameStories([sighting('2017-03-07 15:00', '2017-03-07 15:45'), sighting('2017-03-06 15:30')])).toHaveLength(1);
  });

  it('bounds a story to 48 hours: a template drifting earlier every day, or dated without its time, merges by threes at most', () => {
    expect(stories('date,time,symbol,headline\n2017-03-01,,,Oil slides\n2017-03-02,,,Oil slides\n2017-03-03,,,Oil slides\n2017-03-04,,,Oil slides\n').map((g) => g.length)).toEqual([3, 1]);
    const drifting = ['09:30', '09:25', '09:20', '09:15', '09:10', '09:05', '09:00'].map((t, i) => `2017-03-0${i + 1},${t},,Stocks rise at the open`);
    const groups = stories(`date,time,symbol,headline\n${drifting.join('\n')}\n`);
    expect(groups.map((g) => g.length)).toEqual([3, 3, 1]);
    // The same template at the same time every day is 24 hours apart: one headline a day.
    expect(stories('date,time,symbol,headline\n2017-03-06,09:30,,Stocks rise\n2017-03-07,09:30,,Stocks rise\n2017-03-08,09:30,,Stocks rise\n').map((g) => g.length)).toEqual([1, 1, 1]);
  });

  it('with a vendor id, one story whatever the stamps and text; different ids stay apart', () => {
    const groups = stories('date,time,symbol,headline,vendor_id\n2017-03-01,10:00,ACME,Acme beats,v-1\n2017-03-02,09:00,ACME,Acme misses,v-1\n2017-03-01,10:00,ACME,Acme beats,v-2\n2017-03-01,10:00,ACME,Acme beats,\n');
    expect(groups.map((g) => g.length).sort()).toEqual([1, 1, 2]);
    const parsed = parseHeadlinesCsv('date,time,symbol,headline,story_id\n2017-03-01,10:00,ACME,Acme beats,v-1\n2017-03-01,10:00,ACME,Acme beats,\n', 'x.csv').headlines;
    expect(parsed.map((h) => h.vendorId)).toEqual(['v-1', undefined]);
    expect(parsed[0].id).not.toBe(parsed[1].id);
    // Without an id the row id is the one of before, so rows stored then are found again.
    expect(parsed[1].id).toBe(parseHeadlinesCsv('date,time,symbol,headline\n2017-03-01,10:00,ACME,Acme beats\n', 'x.csv').headlines[0].id);
  });

  it('reads a vendor id only from a vendor_id or story_id column: an id column (row numbers) is not one', () => {
    const rowNumbers = parseHeadlinesCsv('date,time,symbol,headline,id\n2017-03-01,15:30,ACME,Acme plunges,1\n2017-05-10,10:00,ACME,Acme wins contract,1\n', 'x.csv');
    expect(rowNumbers.errors).toEqual([]);
    expect(rowNumbers.headlines.map((h) => h.vendorId)).toEqual([undefined, undefined]);
  });

  it('refuses a vendor id repeated in one file for different texts a day or more apart: not a story id', () => {
    const r = parseHeadlinesCsv('date,time,symbol,headline,vendor_id\n2017-03-01,15:30,ACME,Acme plunges,7\n2017-03-01,16:30,ACME,Acme plunges on lawsuit,7\n2017-05-10,10:00,ACME,Acme wins contract,7\n2017-05-10,10:00,BETA,Beta wins contract,7\n', 'x.csv');
    expect(r.errors).toEqual([{ line: 4, message: expect.stringMatching(/vendor id 7 .*line 2.*different headline.*2017-03-01 15:30/) }]);
    expect(r.headlines.map((h) => h.published)).toEqual(['2017-03-01 15:30', '2017-03-01 16:30', '2017-05-10 10:00']);
  });
});
