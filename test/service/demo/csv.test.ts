// RFC 4180 reading and writing for the demo's CSV: quotes, commas and line breaks inside fields survive a round trip.
import { describe, expect, it } from 'vitest';
import { CsvError, formatCsv, lineBreakOf, parseCsv } from '../../../service/demo/csv';

describe('parseCsv', () => {
  it('reads plain records with CRLF or LF line ends, and no empty record after the final line break', () => {
    expect(parseCsv('a,b\r\n1,2\r\n')).toEqual([['a', 'b'], ['1', '2']]);
    expect(parseCsv('a,b\n1,2')).toEqual([['a', 'b'], ['1', '2']]);
    expect(parseCsv('a,b\r1,2\r')).toEqual([['a', 'b'], ['1', '2']]);
  });

  it('keeps commas, doubled quotes and line breaks inside quoted fields', () => {
    const text = 'name,notes\r\n"Sharma, Priya","said ""call after 6pm""\r\nthen left"\r\n"",x\r\n';
    expect(parseCsv(text)).toEqual([
      ['name', 'notes'],
      ['Sharma, Priya', 'said "call after 6pm"\r\nthen left'],
      ['', 'x'],
    ]);
  });

  it('keeps empty fields at the start, middle and end of a record, and blank lines as one empty field', () => {
    expect(parseCsv(',a,,b,\n\nc')).toEqual([['', 'a', '', 'b', ''], [''], ['c']]);
  });

  it('keeps spaces and a quote inside an unquoted field as they are', () => {
    expect(parseCsv(' +91 98765 43210 ,5" screen')).toEqual([[' +91 98765 43210 ', '5" screen']]);
  });

  it('drops a byte-order mark and reads an empty text as no records', () => {
    expect(parseCsv('\uFEFFPhone\n1')).toEqual([['Phone'], ['1']]);
    expect(parseCsv('')).toEqual([]);
  });

  it('refuses a quote that is never closed, naming the line it opened on', () => {
    expect(() => parseCsv('a\n"b,c\nd')).toThrow(CsvError);
    expect(() => parseCsv('a\n"b,c\nd')).toThrow(/line 2/);
  });

  it('refuses text between a closing quote and the next separator', () => {
    expect(() => parseCsv('"a"b,c')).toThrow(/after a closing quote \(line 1\)/);
  });
});

describe('formatCsv', () => {
  it('quotes only fields holding a quote, a comma or a line break, and ends every record with CRLF by default', () => {
    expect(formatCsv([['a', 'b, c', 'say "hi"', 'two\nlines', ' spaced ']])).toBe('a,"b, c","say ""hi""","two\nlines", spaced \r\n');
  });

  it('ends records with LF when asked, so a copy keeps the original file\'s line breaks', () => {
    expect(formatCsv([['a'], ['b']], '\n')).toBe('a\nb\n');
    expect(lineBreakOf('a\r\nb')).toBe('\r\n');
    expect(lineBreakOf('a\nb')).toBe('\n');
  });

  it('round-trips awkward records through parseCsv', () => {
    const records = [
      ['First name', 'Phone', 'Notes'],
      ['Zoë', '+44 7911 123456', 'VIP, "gold" tier'],
      ['José', '098765 43210', 'Met at the fair\nwants the catalogue\r\nand a call'],
      ['', '', ''],
      ['"', '""', ',,,'],
      ['😍 ¿envían a São Paulo 24/7?', '\r', '\n'],
    ];
    for (const eol of ['\r\n', '\n'] as const) {
      expect(parseCsv(formatCsv(records, eol))).toEqual(records);
    }
  });
});
