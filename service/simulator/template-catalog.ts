// Message templates per WABA, in Meta's template-list shape, plus what a send must supply for each one.
// Owns lookup, filtering and cursor paging; it does not validate sends (send-validation.ts does).

import { createHash } from 'node:crypto';

/** One template as `GET /{waba-id}/message_templates` returns it (CLOUD_API.md §2). */
export interface MessageTemplate {
  name: string;
  language: string;
  status: 'APPROVED' | 'PENDING' | 'REJECTED' | 'PAUSED' | 'DISABLED';
  category: 'MARKETING' | 'UTILITY' | 'AUTHENTICATION';
  parameter_format: 'POSITIONAL' | 'NAMED';
  /** Filled in by the catalog from a hash of WABA, name and language when absent. */
  id?: string;
  components: TemplateComponent[];
  sub_category?: string;
  rejected_reason?: string;
}

export interface TemplateComponent {
  type: 'HEADER' | 'BODY' | 'FOOTER' | 'BUTTONS';
  format?: HeaderFormat;
  text?: string;
  example?: {
    header_text?: string[];
    header_text_named_params?: { param_name: string; example: string }[];
    header_handle?: string[];
    body_text?: string[][];
    body_text_named_params?: { param_name: string; example: string }[];
  };
  buttons?: TemplateButton[];
}

export type HeaderFormat = 'TEXT' | 'IMAGE' | 'VIDEO' | 'DOCUMENT' | 'LOCATION';

export interface TemplateButton {
  type: 'URL' | 'QUICK_REPLY' | 'PHONE_NUMBER' | 'COPY_CODE';
  text: string;
  url?: string;
  phone_number?: string;
  example?: string[];
}

/** What a send of one template must carry, derived once from its components. */
export interface TemplateSendSpec {
  template: MessageTemplate;
  isNamed: boolean;
  headerFormat: HeaderFormat | undefined;
  headerText: string;
  /** Placeholder keys in order of appearance: "1", "2"... or names. */
  headerParams: string[];
  bodyText: string;
  bodyParams: string[];
  /** Buttons by index; `hasParam` for URL buttons whose URL ends in a placeholder. */
  buttons: { type: TemplateButton['type']; text: string; hasParam: boolean }[];
}

/** Query of the template list; fields mirror Meta's query parameters. */
export interface TemplateQuery {
  limit?: number;
  after?: string;
  before?: string;
  status?: string;
  name?: string;
  fields?: string[];
}

export interface TemplatePage {
  data: Record<string, unknown>[];
  /** Index cursors; `next` is absent on the last page. */
  cursors: { before: string; after: string } | undefined;
  hasNext: boolean;
}

/** Meta's template-list default page size. */
export const DEFAULT_TEMPLATE_PAGE_SIZE = 25;
const MAX_TEMPLATE_PAGE_SIZE = 1000;

const placeholderPattern = /\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g;

/** Placeholder keys in order of first appearance. */
export function placeholdersOf(text: string | undefined): string[] {
  if (!text) return [];
  const keys: string[] = [];
  for (const match of text.matchAll(placeholderPattern)) {
    const key = match[1]!;
    if (!keys.includes(key)) keys.push(key);
  }
  return keys;
}

function compile(template: MessageTemplate): TemplateSendSpec {
  const header = template.components.find((c) => c.type === 'HEADER');
  const body = template.components.find((c) => c.type === 'BODY');
  const buttons = template.components.find((c) => c.type === 'BUTTONS')?.buttons ?? [];
  const headerFormat = header?.format ?? (header ? 'TEXT' : undefined);
  return {
    template,
    isNamed: template.parameter_format === 'NAMED',
    headerFormat,
    headerText: headerFormat === 'TEXT' ? (header?.text ?? '') : '',
    headerParams: headerFormat === 'TEXT' ? placeholdersOf(header?.text) : [],
    bodyText: body?.text ?? '',
    bodyParams: placeholdersOf(body?.text),
    buttons: buttons.map((b) => ({
      type: b.type,
      text: b.text,
      hasParam: b.type === 'URL' && placeholdersOf(b.url).length > 0,
    })),
  };
}

function templateId(wabaId: string, name: string, language: string): string {
  const hex = createHash('sha1').update(`${wabaId}/${name}/${language}`).digest('hex').slice(0, 13);
  // Meta template ids are 15-16 digit numbers.
  return String(1_000_000_000_000_000n + (BigInt(`0x${hex}`) % 8_000_000_000_000_000n));
}

function encodeCursor(index: number): string {
  return Buffer.from(`sim:${index}`).toString('base64url');
}

function decodeCursor(cursor: string | undefined): number | undefined {
  if (!cursor) return undefined;
  const match = /^sim:(\d+)$/.exec(Buffer.from(cursor, 'base64url').toString());
  return match ? Number(match[1]) : undefined;
}

/**
 * Templates per WABA. A WABA without templates of its own gets `defaults(wabaId)` on first use,
 * so every registered number can send the sample catalog without setup.
 */
export class TemplateCatalog {
  /** Send specs by name, then language: `find` runs per send, and a joined key would be a new string to hash each time. */
  private readonly byWaba = new Map<string, { list: MessageTemplate[]; specs: Map<string, Map<string, TemplateSendSpec>> }>();

  constructor(private readonly defaults: (wabaId: string) => MessageTemplate[]) {}

  /** Replaces the WABA's templates. Ids are assigned where missing. */
  set(wabaId: string, templates: MessageTemplate[]): void {
    const list = templates.map((t) => ({ ...t, id: t.id ?? templateId(wabaId, t.name, t.language) }));
    const specs = new Map<string, Map<string, TemplateSendSpec>>();
    for (const t of list) {
      let byLanguage = specs.get(t.name);
      if (!byLanguage) specs.set(t.name, (byLanguage = new Map()));
      byLanguage.set(t.language, compile(t));
    }
    this.byWaba.set(wabaId, { list, specs });
  }

  /** The WABA's templates, in catalog order. */
  list(wabaId: string): MessageTemplate[] {
    return this.entry(wabaId).list;
  }

  /** The send spec of `name` in `language`, whatever its status; undefined when it does not exist. */
  find(wabaId: string, name: string, language: string): TemplateSendSpec | undefined {
    return this.entry(wabaId).specs.get(name)?.get(language);
  }

  /**
   * Changes a template's status or category in place (the list and later sends see it at once), as Meta does
   * after a `message_template_status_update` or a completed `template_category_update`. Returns the updated
   * template, or undefined when the WABA has no such name and language.
   */
  update(
    wabaId: string,
    name: string,
    language: string,
    patch: { status?: MessageTemplate['status']; category?: MessageTemplate['category'] },
  ): MessageTemplate | undefined {
    const template = this.find(wabaId, name, language)?.template;
    if (!template) return undefined;
    if (patch.status) template.status = patch.status;
    if (patch.category) template.category = patch.category;
    return template;
  }

  /**
   * One page of the list. `status` matches case-insensitively; `name` matches as a case-insensitive substring;
   * `fields` projects each item (Meta always adds `id`). Cursors are opaque positions in the filtered list.
   */
  page(wabaId: string, query: TemplateQuery): TemplatePage {
    const status = query.status?.toUpperCase();
    const name = query.name?.toLowerCase();
    const filtered = this.list(wabaId).filter(
      (t) => (!status || t.status === status) && (!name || t.name.toLowerCase().includes(name)),
    );
    const limit = Math.min(Math.max(query.limit ?? DEFAULT_TEMPLATE_PAGE_SIZE, 1), MAX_TEMPLATE_PAGE_SIZE);
    const afterIndex = decodeCursor(query.after);
    const beforeIndex = decodeCursor(query.before);
    let start = afterIndex !== undefined ? afterIndex + 1 : 0;
    if (afterIndex === undefined && beforeIndex !== undefined) start = Math.max(0, beforeIndex - limit);
    const end = Math.min(filtered.length, afterIndex === undefined && beforeIndex !== undefined ? beforeIndex : start + limit);
    const items = filtered.slice(start, end);
    const fields = query.fields?.length ? new Set([...query.fields, 'id']) : undefined;
    const data = items.map((t) => {
      const item = t as unknown as Record<string, unknown>;
      if (!fields) return item;
      return Object.fromEntries(Object.entries(item).filter(([key]) => fields.has(key)));
    });
    return {
      data,
      cursors: items.length ? { before: encodeCursor(start), after: encodeCursor(end - 1) } : undefined,
      hasNext: end < filtered.length,
    };
  }

  private entry(wabaId: string) {
    let entry = this.byWaba.get(wabaId);
    if (!entry) {
      this.set(wabaId, this.defaults(wabaId));
      entry = this.byWaba.get(wabaId)!;
    }
    return entry;
  }
}
