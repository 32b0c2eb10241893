// The marketer's compose choices (phone column, template, parameter sources, header media, which rows) and how a
// sheet row becomes one upload row. Pure: works on the values of one range read.
import type { HeaderMediaType, RowUpload, Template, TemplateRef } from './service-contract';

/** Where a template parameter's value comes from: a column (by header text) or the same text for every row. */
export type ParamSource = { kind: 'column'; column: string } | { kind: 'fixed'; value: string };

/** Which rows a send covers. `new` = rows without a key yet, which is what recurring sends use. */
export type SelectionMode = 'all' | 'visible' | 'selected' | 'new';

/** Everything the sidebar composes; stored in document properties so resumed and recurring sends reuse it. */
export interface ComposeConfig {
  sheetName: string;
  /** Header text of the phone column. */
  phoneColumn: string;
  /** ISO 3166 alpha-2 country for numbers typed without a country code. */
  defaultCountry?: string;
  template: TemplateRef;
  /** One source per template parameter key. */
  params: Record<string, ParamSource>;
  headerMedia?: { type: HeaderMediaType; source: ParamSource } | null;
  selection: SelectionMode;
  campaignName?: string;
  /** ISO time; the service holds the campaign until then. */
  sendAt?: string | null;
}

/** Lower-cased, trimmed header → 0-based column index (the first column wins on duplicates). */
export function headerIndex(headers: readonly unknown[]): Map<string, number> {
  const map = new Map<string, number>();
  headers.forEach((h, i) => {
    const k = normalise(h);
    if (k !== '' && !map.has(k)) map.set(k, i);
  });
  return map;
}

/**
 * Lists what keeps `config` from working with `template` and this header row, in words; empty when it is fine.
 * A parameter that is not mapped, a mapped key the template does not have, or a column that is gone are mismatches.
 */
export function findMappingProblems(config: ComposeConfig, template: Template, headers: readonly unknown[]): string[] {
  const problems: string[] = [];
  const index = headerIndex(headers);
  if (!index.has(normalise(config.phoneColumn))) {
    problems.push(`The phone column "${config.phoneColumn}" is not in the header row any more.`);
  }
  const wanted = new Set(template.parameters.map((p) => p.key));
  for (const p of template.parameters) {
    const source = config.params[p.key];
    if (!source) {
      problems.push(`Template parameter {{${p.key}}} (${p.component}) is not mapped to a column or a fixed value.`);
    } else if (source.kind === 'column' && !index.has(normalise(source.column))) {
      problems.push(`Template parameter {{${p.key}}} uses column "${source.column}", which is not in the header row.`);
    } else if (source.kind === 'fixed' && source.value.trim() === '') {
      problems.push(`Template parameter {{${p.key}}} has an empty fixed value.`);
    }
  }
  for (const key of Object.keys(config.params)) {
    if (!wanted.has(key)) problems.push(`The template "${template.name}" has no parameter {{${key}}}.`);
  }
  const media = config.headerMedia;
  if (media) {
    if (media.source.kind === 'column' && !index.has(normalise(media.source.column))) {
      problems.push(`The header media column "${media.source.column}" is not in the header row.`);
    }
    if (media.source.kind === 'fixed' && !/^https:\/\//i.test(media.source.value.trim())) {
      problems.push('The header media address must start with https://.');
    }
  }
  return problems;
}

/** Text of one cell as a template value: numbers without float noise, dates as YYYY-MM-DD, the rest trimmed. */
export function cellText(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? '' : value.toISOString().slice(0, 10);
  if (typeof value === 'number') return Number.isInteger(value) ? value.toFixed(0) : String(value);
  return String(value).trim();
}

/** Builds the upload row for one sheet row. Missing cells become empty strings; the service judges validity. */
export function buildRowUpload(
  row: readonly unknown[],
  key: string,
  index: ReadonlyMap<string, number>,
  config: ComposeConfig,
): RowUpload {
  const read = (source: ParamSource): string => {
    if (source.kind === 'fixed') return source.value;
    const at = index.get(normalise(source.column));
    return at === undefined ? '' : cellText(row[at]);
  };
  const phoneAt = index.get(normalise(config.phoneColumn));
  const params: Record<string, string> = {};
  for (const [k, source] of Object.entries(config.params)) params[k] = read(source);
  const upload: RowUpload = { key, to: phoneAt === undefined ? '' : cellText(row[phoneAt]), params };
  if (config.headerMedia) {
    const link = read(config.headerMedia.source);
    if (link !== '') upload.headerMedia = { type: config.headerMedia.type, link };
  }
  return upload;
}

function normalise(h: unknown): string {
  return String(h ?? '').trim().toLowerCase();
}
