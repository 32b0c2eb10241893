// Checks a row's parameters against its template and turns them into the Cloud API's `components`.
// Pure: the same rules serve intake (reject early), preview (render text) and dispatch (build the payload).
import type { TemplateDefinition } from './template';
import { placeholdersIn } from './template';

export type HeaderMedia = { type: 'image' | 'video' | 'document'; link: string };

/** Meta's limits on hydrated text (CLOUD_API.md 1.3): header 60, body 1024 characters; a URL at most 2000. */
export const HEADER_TEXT_MAX = 60;
export const BODY_TEXT_MAX = 1024;
export const URL_MAX = 2000;

/**
 * Why a row's parameters do not fit the template, as a sentence for the marketer, or null when they fit.
 * Meta rejects a parameter holding a newline, a tab or more than four spaces in a row (error 132018 / 100), so
 * they are refused here rather than failing at send time.
 */
export function checkTemplateParams(
  template: TemplateDefinition,
  params: Readonly<Record<string, string>>,
  headerMedia: HeaderMedia | undefined,
): string | null {
  const expected = new Set(template.parameters.map((p) => p.key));
  const missing = [...expected].filter((key) => params[key] === undefined || params[key] === '');
  if (missing.length > 0) return `Missing value for template parameter ${missing.map((k) => `{{${k}}}`).join(', ')}.`;
  const extra = Object.keys(params).filter((key) => !expected.has(key));
  if (extra.length > 0) return `Template ${template.name} has no parameter ${extra.map((k) => `{{${k}}}`).join(', ')}.`;
  for (const param of template.parameters) {
    const value = params[param.key] as string;
    if (param.component !== 'button' && /[\n\t]| {5,}/.test(value)) {
      return `Parameter {{${param.key}}} holds a line break, a tab or more than four spaces in a row, which WhatsApp refuses.`;
    }
  }
  const mediaFormats = ['image', 'video', 'document'];
  if (mediaFormats.includes(template.headerFormat)) {
    if (!headerMedia) return `Template ${template.name} needs a ${template.headerFormat} header: give headerMedia.`;
    if (headerMedia.type !== template.headerFormat) {
      return `Template ${template.name} needs a ${template.headerFormat} header, not a ${headerMedia.type}.`;
    }
    if (!/^https:\/\/\S+$/i.test(headerMedia.link)) return 'The header media link must be an https:// URL.';
  } else if (headerMedia) {
    return `Template ${template.name} has no media header.`;
  }
  const rendered = renderTemplate(template, params);
  if (rendered.header !== null && rendered.header.length > HEADER_TEXT_MAX) {
    return `The header would be ${rendered.header.length} characters; WhatsApp allows ${HEADER_TEXT_MAX}.`;
  }
  if (rendered.body.length > BODY_TEXT_MAX) {
    return `The message would be ${rendered.body.length} characters; WhatsApp allows ${BODY_TEXT_MAX}.`;
  }
  for (const url of rendered.urls) {
    if (url.length > URL_MAX) return `A button link would be ${url.length} characters; WhatsApp allows ${URL_MAX}.`;
  }
  return null;
}

export interface RenderedTemplate {
  header: string | null;
  body: string;
  footer: string | null;
  urls: string[];
}

function fill(text: string, values: (placeholder: string) => string | undefined): string {
  return text.replace(/\{\{\s*([a-z0-9_]+)\s*\}\}/gi, (whole, name: string) => values(name) ?? whole);
}

/** The text the recipient will read, placeholders filled from `params` (left as `{{x}}` when absent). */
export function renderTemplate(template: TemplateDefinition, params: Readonly<Record<string, string>>): RenderedTemplate {
  const header = template.headerFormat === 'text' && template.headerText !== null
    ? fill(template.headerText, () => params['header'])
    : null;
  const body = fill(template.bodyText, (name) => params[name]);
  const urls = template.buttons
    .filter((b) => b.type === 'url' && b.url !== null)
    .map((b) => fill(b.url as string, () => {
      const suffix = params[`button:${b.index}`];
      return suffix === undefined ? undefined : encodeUrlSuffix(suffix);
    }));
  return { header, body, footer: template.footerText, urls };
}

/** Percent-encodes what a URL cannot hold as typed (spaces, accents), leaving existing %XX escapes alone. */
export function encodeUrlSuffix(value: string): string {
  return value.replace(/[^A-Za-z0-9\-._~!$&'()*+,;=:@/?%#]/gu, (c) => encodeURIComponent(c));
}

type TextParameter = { type: 'text'; text: string; parameter_name?: string };

/** The `template.components` array of a Cloud API send for this row (CLOUD_API.md 1.3). */
export function buildComponents(
  template: TemplateDefinition,
  params: Readonly<Record<string, string>>,
  headerMedia: HeaderMedia | undefined,
): unknown[] {
  const isNamed = template.parameterFormat === 'named';
  const components: unknown[] = [];
  if (template.headerFormat === 'text' && template.headerText !== null) {
    const names = placeholdersIn(template.headerText);
    if (names.length > 0) {
      const parameter: TextParameter = { type: 'text', text: params['header'] ?? '' };
      if (isNamed) parameter.parameter_name = names[0] as string;
      components.push({ type: 'header', parameters: [parameter] });
    }
  } else if (headerMedia) {
    components.push({ type: 'header', parameters: [{ type: headerMedia.type, [headerMedia.type]: { link: headerMedia.link } }] });
  }
  const bodyNames = [...new Set(placeholdersIn(template.bodyText))];
  if (bodyNames.length > 0) {
    const ordered = isNamed ? bodyNames : [...bodyNames].sort((a, b) => Number(a) - Number(b));
    components.push({
      type: 'body',
      parameters: ordered.map((name): TextParameter => (
        isNamed ? { type: 'text', parameter_name: name, text: params[name] ?? '' } : { type: 'text', text: params[name] ?? '' }
      )),
    });
  }
  for (const button of template.buttons) {
    const suffix = params[`button:${button.index}`];
    if (button.type === 'url' && suffix !== undefined) {
      components.push({
        type: 'button', sub_type: 'url', index: String(button.index),
        parameters: [{ type: 'text', text: encodeUrlSuffix(suffix) }],
      });
    }
  }
  return components;
}
