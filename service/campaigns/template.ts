// A message template as the service understands it, read from the Cloud API and kept with the campaign:
// which parameters it takes and the text they fill. The Cloud API's JSON is translated in the adapter.

export type ParameterFormat = 'positional' | 'named';
export type HeaderFormat = 'none' | 'text' | 'image' | 'video' | 'document' | 'location';

export interface TemplateParameter {
  /** `"1"`, `"2"`... (positional), the placeholder's name (named), `"header"`, or `"button:N"`. */
  key: string;
  component: 'header' | 'body' | 'button';
  /** Meta's example value, shown in the sidebar. */
  example: string | null;
}

export interface TemplateButton {
  index: number;
  type: 'url' | 'quick_reply' | 'phone_number' | 'other';
  text: string;
  /** For URL buttons: the URL, with `{{1}}` (or a named placeholder) where the row's suffix goes. */
  url: string | null;
}

export interface TemplateDefinition {
  name: string;
  language: string;
  category: string;
  /** Meta's status word, e.g. APPROVED; only APPROVED templates can be sent. */
  status: string;
  parameterFormat: ParameterFormat;
  headerFormat: HeaderFormat;
  headerText: string | null;
  bodyText: string;
  footerText: string | null;
  buttons: TemplateButton[];
  parameters: TemplateParameter[];
}

/** Placeholders in template text, in order of appearance: `{{1}}` or `{{first_name}}`. */
export function placeholdersIn(text: string): string[] {
  return [...text.matchAll(/\{\{\s*([a-z0-9_]+)\s*\}\}/gi)].map((m) => m[1] as string);
}
