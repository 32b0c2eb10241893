// Translates one item of Meta's template list (HEADER/BODY/FOOTER/BUTTONS components) into a TemplateDefinition,
// naming each parameter the way rows supply it: "1".., a placeholder name, "header", "button:N".
import type { HeaderFormat, TemplateButton, TemplateDefinition, TemplateParameter } from '../../campaigns/template';
import { placeholdersIn } from '../../campaigns/template';

type Json = Record<string, unknown>;

const HEADER_FORMATS: Record<string, HeaderFormat> = {
  TEXT: 'text', IMAGE: 'image', VIDEO: 'video', DOCUMENT: 'document', LOCATION: 'location',
};

function str(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

/** Null when the item is not a template (no name or language). */
export function parseMetaTemplate(item: unknown): TemplateDefinition | null {
  if (!item || typeof item !== 'object') return null;
  const t = item as Json;
  const name = str(t.name);
  const language = str(t.language);
  if (!name || !language) return null;
  const components = Array.isArray(t.components) ? (t.components as Json[]) : [];
  const find = (type: string): Json | undefined => components.find((c) => str(c.type)?.toUpperCase() === type);
  const header = find('HEADER');
  const body = find('BODY');
  const footer = find('FOOTER');
  const buttonsComponent = find('BUTTONS');
  const isNamed = str(t.parameter_format)?.toUpperCase() === 'NAMED';

  const parameters: TemplateParameter[] = [];
  const headerFormat = header ? HEADER_FORMATS[str(header.format)?.toUpperCase() ?? 'TEXT'] ?? 'text' : 'none';
  const headerText = header && headerFormat === 'text' ? str(header.text) : null;
  if (headerText && placeholdersIn(headerText).length > 0) {
    const example = (header?.example as Json | undefined)?.header_text;
    parameters.push({ key: 'header', component: 'header', example: Array.isArray(example) ? str(example[0]) : null });
  }

  const bodyText = str(body?.text) ?? '';
  const bodyExample = body?.example as Json | undefined;
  const names = [...new Set(placeholdersIn(bodyText))];
  if (isNamed) {
    const namedExamples = Array.isArray(bodyExample?.body_text_named_params) ? bodyExample.body_text_named_params as Json[] : [];
    for (const name of names) {
      const example = namedExamples.find((p) => p.param_name === name);
      parameters.push({ key: name, component: 'body', example: example ? str(example.example) : null });
    }
  } else {
    const positional = Array.isArray(bodyExample?.body_text) && Array.isArray((bodyExample.body_text as unknown[])[0])
      ? (bodyExample.body_text as unknown[][])[0] as unknown[] : [];
    for (const key of names.sort((a, b) => Number(a) - Number(b))) {
      parameters.push({ key, component: 'body', example: str(positional[Number(key) - 1]) });
    }
  }

  const buttons: TemplateButton[] = [];
  const rawButtons = Array.isArray(buttonsComponent?.buttons) ? buttonsComponent.buttons as Json[] : [];
  rawButtons.forEach((b, index) => {
    const type = str(b.type)?.toUpperCase();
    const url = str(b.url);
    buttons.push({
      index,
      type: type === 'URL' ? 'url' : type === 'QUICK_REPLY' ? 'quick_reply' : type === 'PHONE_NUMBER' ? 'phone_number' : 'other',
      text: str(b.text) ?? '',
      url,
    });
    if (type === 'URL' && url && placeholdersIn(url).length > 0) {
      const example = Array.isArray(b.example) ? str(b.example[0]) : null;
      parameters.push({ key: `button:${index}`, component: 'button', example });
    }
  });

  return {
    name,
    language,
    category: str(t.category) ?? 'UNKNOWN',
    status: str(t.status) ?? 'UNKNOWN',
    parameterFormat: isNamed ? 'named' : 'positional',
    headerFormat,
    headerText,
    bodyText,
    footerText: str(footer?.text),
    buttons,
    parameters,
  };
}
