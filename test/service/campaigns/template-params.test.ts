// Row parameters against a template: what is refused before sending (and why), and the Cloud API `components`
// built for each template shape.
import { describe, expect, it } from 'vitest';
import type { TemplateDefinition } from '../../../service/campaigns/template';
import {
  BODY_TEXT_MAX, buildComponents, checkTemplateParams, encodeUrlSuffix, HEADER_TEXT_MAX, renderTemplate,
} from '../../../service/campaigns/template-params';

function template(overrides: Partial<TemplateDefinition>): TemplateDefinition {
  return {
    name: 't', language: 'en_US', category: 'MARKETING', status: 'APPROVED', parameterFormat: 'positional',
    headerFormat: 'none', headerText: null, bodyText: 'Hi {{1}}, your code is {{2}}.', footerText: null, buttons: [],
    parameters: [{ key: '1', component: 'body', example: null }, { key: '2', component: 'body', example: null }],
    ...overrides,
  };
}

const positional = template({});
const named = template({
  parameterFormat: 'named',
  bodyText: 'Hi {{first_name}}, order {{order_id}} shipped.',
  parameters: [{ key: 'first_name', component: 'body', example: null }, { key: 'order_id', component: 'body', example: null }],
});
const textHeader = template({
  headerFormat: 'text', headerText: 'Hello {{1}}', bodyText: 'Your code is {{1}}.',
  parameters: [{ key: 'header', component: 'header', example: null }, { key: '1', component: 'body', example: null }],
});
const imageHeader = template({
  headerFormat: 'image', bodyText: 'Hi {{1}}, new arrivals.', parameters: [{ key: '1', component: 'body', example: null }],
});
const urlButton = template({
  bodyText: 'Hi {{1}}!',
  buttons: [
    { index: 0, type: 'quick_reply', text: 'Stop', url: null },
    { index: 1, type: 'url', text: 'Shop', url: 'https://shop.example.com/sale/{{1}}' },
  ],
  parameters: [{ key: '1', component: 'body', example: null }, { key: 'button:1', component: 'button', example: null }],
});

describe('checkTemplateParams', () => {
  it('accepts a row that fills every parameter', () => {
    expect(checkTemplateParams(positional, { 1: 'Ann', 2: '42' }, undefined)).toBeNull();
    expect(checkTemplateParams(named, { first_name: 'Ann', order_id: 'A-1' }, undefined)).toBeNull();
  });

  it('refuses a missing or empty parameter, naming it', () => {
    expect(checkTemplateParams(positional, { 1: 'Ann' }, undefined)).toContain('{{2}}');
    expect(checkTemplateParams(positional, { 1: 'Ann', 2: '' }, undefined)).toContain('{{2}}');
    expect(checkTemplateParams(named, { first_name: 'Ann' }, undefined)).toContain('{{order_id}}');
  });

  it('refuses a parameter the template does not have, naming it', () => {
    expect(checkTemplateParams(positional, { 1: 'Ann', 2: '42', 3: 'x' }, undefined)).toContain('{{3}}');
    expect(checkTemplateParams(named, { first_name: 'Ann', order_id: 'A-1', last_name: 'B' }, undefined)).toContain('{{last_name}}');
  });

  it.each([
    ['a newline', 'Ann\nBee'],
    ['a tab', 'Ann\tBee'],
    ['five spaces in a row', 'Ann     Bee'],
  ])('refuses a value holding %s, which WhatsApp rejects', (_label, value) => {
    expect(checkTemplateParams(positional, { 1: value, 2: '42' }, undefined)).toMatch(/line break|tab|spaces/);
  });

  it('accepts four spaces in a row', () => {
    expect(checkTemplateParams(positional, { 1: 'Ann    Bee', 2: '42' }, undefined)).toBeNull();
  });

  it('refuses header media of the wrong type, a missing one, a non-https link, and media on a template without it', () => {
    expect(checkTemplateParams(imageHeader, { 1: 'Ann' }, { type: 'image', link: 'https://cdn.example.com/a.jpg' })).toBeNull();
    expect(checkTemplateParams(imageHeader, { 1: 'Ann' }, { type: 'video', link: 'https://cdn.example.com/a.mp4' })).toMatch(/image.*not a video/);
    expect(checkTemplateParams(imageHeader, { 1: 'Ann' }, undefined)).toMatch(/needs a image header/);
    expect(checkTemplateParams(imageHeader, { 1: 'Ann' }, { type: 'image', link: 'http://cdn.example.com/a.jpg' })).toMatch(/https/);
    expect(checkTemplateParams(positional, { 1: 'Ann', 2: '42' }, { type: 'image', link: 'https://cdn.example.com/a.jpg' })).toMatch(/no media header/);
  });

  it(`refuses a body that would exceed ${BODY_TEXT_MAX} characters once filled, and accepts one exactly at the limit`, () => {
    const body = template({ bodyText: '{{1}}', parameters: [{ key: '1', component: 'body', example: null }] });
    expect(checkTemplateParams(body, { 1: 'x'.repeat(BODY_TEXT_MAX) }, undefined)).toBeNull();
    expect(checkTemplateParams(body, { 1: 'x'.repeat(BODY_TEXT_MAX + 1) }, undefined)).toContain(String(BODY_TEXT_MAX));
  });

  it(`refuses a text header over ${HEADER_TEXT_MAX} characters once filled`, () => {
    const longName = 'x'.repeat(HEADER_TEXT_MAX);
    expect(checkTemplateParams(textHeader, { header: longName, 1: '42' }, undefined)).toContain(String(HEADER_TEXT_MAX));
    expect(checkTemplateParams(textHeader, { header: 'Ann', 1: '42' }, undefined)).toBeNull();
  });
});

describe('buildComponents', () => {
  it('sends positional body parameters in placeholder order', () => {
    const swapped = template({ bodyText: 'Code {{2}} for {{1}}, again {{2}}.' });
    expect(buildComponents(swapped, { 1: 'Ann', 2: '42' }, undefined)).toEqual([
      { type: 'body', parameters: [{ type: 'text', text: 'Ann' }, { type: 'text', text: '42' }] },
    ]);
  });

  it('names each parameter for a named template', () => {
    expect(buildComponents(named, { first_name: 'Ann', order_id: 'A-1' }, undefined)).toEqual([
      {
        type: 'body',
        parameters: [
          { type: 'text', parameter_name: 'first_name', text: 'Ann' },
          { type: 'text', parameter_name: 'order_id', text: 'A-1' },
        ],
      },
    ]);
  });

  it('puts a text header parameter in a header component', () => {
    expect(buildComponents(textHeader, { header: 'Ann', 1: '42' }, undefined)).toEqual([
      { type: 'header', parameters: [{ type: 'text', text: 'Ann' }] },
      { type: 'body', parameters: [{ type: 'text', text: '42' }] },
    ]);
    const namedHeader = template({ ...textHeader, parameterFormat: 'named', headerText: 'Hello {{name}}', bodyText: 'Hi.' });
    expect(buildComponents(namedHeader, { header: 'Ann' }, undefined)).toEqual([
      { type: 'header', parameters: [{ type: 'text', text: 'Ann', parameter_name: 'name' }] },
    ]);
  });

  it('links media in the header component under its type', () => {
    expect(buildComponents(imageHeader, { 1: 'Ann' }, { type: 'image', link: 'https://cdn.example.com/a.jpg' })).toEqual([
      { type: 'header', parameters: [{ type: 'image', image: { link: 'https://cdn.example.com/a.jpg' } }] },
      { type: 'body', parameters: [{ type: 'text', text: 'Ann' }] },
    ]);
  });

  it('sends a URL button suffix percent-encoded, at the button index', () => {
    expect(buildComponents(urlButton, { 1: 'Ann', 'button:1': 'café olé/ñ' }, undefined)).toEqual([
      { type: 'body', parameters: [{ type: 'text', text: 'Ann' }] },
      { type: 'button', sub_type: 'url', index: '1', parameters: [{ type: 'text', text: 'caf%C3%A9%20ol%C3%A9/%C3%B1' }] },
    ]);
  });

  it('leaves URL-safe characters and existing %XX escapes alone', () => {
    expect(encodeUrlSuffix('SUMMER25?ref=a&b=c%20d')).toBe('SUMMER25?ref=a&b=c%20d');
    expect(encodeUrlSuffix('a b')).toBe('a%20b');
    expect(encodeUrlSuffix('😀')).toBe('%F0%9F%98%80');
  });
});

describe('renderTemplate', () => {
  it('fills the text the recipient reads, including the button URL', () => {
    const rendered = renderTemplate(urlButton, { 1: 'Ann', 'button:1': 'a b' });
    expect(rendered.body).toBe('Hi Ann!');
    expect(rendered.urls).toEqual(['https://shop.example.com/sale/a%20b']);
    expect(renderTemplate(textHeader, { header: 'Ann', 1: '42' })).toMatchObject({ header: 'Hello Ann', body: 'Your code is 42.' });
  });

  it('leaves a placeholder without a value visible', () => {
    expect(renderTemplate(positional, { 1: 'Ann' }).body).toBe('Hi Ann, your code is {{2}}.');
  });
});
