// RFC 4180 CSV text ⇄ records of strings: quoted fields may hold commas, quotes ("" inside quotes) and line breaks.
// Pure text work: no files, no type guessing (every field stays the string it was).

/** A CSV that cannot be read as RFC 4180, with the 1-based line where reading stopped. */
export class CsvError extends Error {
  constructor(message: string, readonly line: number) {
    super(`${message} (line ${line})`);
    this.name = 'CsvError';
  }
}

/**
 * Parses `text` into records. Records end at CRLF, LF or CR; a line break inside quotes belongs to the field, as typed.
 * A leading byte-order mark is dropped, and a final line break does not start an empty record. Throws `CsvError`
 * for a quote that is never closed or text between a closing quote and the next comma.
 */
export function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let line = 1;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  const endField = (): void => {
    record.push(field);
    field = '';
  };
  const endRecord = (): void => {
    endField();
    records.push(record);
    record = [];
  };
  if (i >= text.length) return records;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '"' && field === '') {
      const openedAt = line;
      i += 1;
      for (;;) {
        if (i >= text.length) throw new CsvError('A quoted field is never closed', openedAt);
        const q = text[i]!;
        if (q === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i += 1;
          break;
        }
        if (q === '\n' || (q === '\r' && text[i + 1] !== '\n')) line += 1;
        field += q;
        i += 1;
      }
      const next = text[i];
      if (next !== undefined && next !== ',' && next !== '\r' && next !== '\n') {
        throw new CsvError('Unexpected text after a closing quote', line);
      }
      // An empty quoted field ("") must still count as a field, so mark it before the separator is read.
      if (next === undefined) break;
      continue;
    }
    if (c === ',') {
      endField();
      i += 1;
    } else if (c === '\r' || c === '\n') {
      endRecord();
      i += c === '\r' && text[i + 1] === '\n' ? 2 : 1;
      line += 1;
      if (i >= text.length) return records;
    } else {
      field += c;
      i += 1;
    }
  }
  endRecord();
  return records;
}

/** True when a field must be quoted to read back the same. */
function needsQuotes(field: string): boolean {
  return /[",\r\n]/.test(field);
}

/**
 * Writes records as CSV, quoting only the fields that need it, each record ended by `eol` (RFC 4180's CRLF by
 * default). `parseCsv(formatCsv(r))` gives back `r` for any records whose rows each have at least one field.
 */
export function formatCsv(records: readonly (readonly string[])[], eol: '\r\n' | '\n' = '\r\n'): string {
  let out = '';
  for (const record of records) {
    out += record.map((f) => (needsQuotes(f) ? `"${f.replace(/"/g, '""')}"` : f)).join(',');
    out += eol;
  }
  return out;
}

/** The line break a CSV text uses between records (CRLF when it has any), so a copy keeps the original's. */
export function lineBreakOf(text: string): '\r\n' | '\n' {
  return text.includes('\r\n') ? '\r\n' : '\n';
}
