import { describe, expect, it } from 'vitest';
import { renderWhatsAppText } from '../../../addon/core/whatsapp-format';

describe('renderWhatsAppText', () => {
  it('renders bold, italic, strike and monospace like WhatsApp', () => {
    expect(renderWhatsAppText('Hi *Alice*, your _order_ is ~late~ ```A-17```'))
      .toBe('Hi <b>Alice</b>, your <i>order</i> is <s>late</s> <code>A-17</code>');
  });
  it('escapes HTML from the sheet before adding tags', () => {
    expect(renderWhatsAppText('<img src=x onerror=alert(1)> *b*')).toBe('&lt;img src=x onerror=alert(1)&gt; <b>b</b>');
  });
  it('leaves arithmetic alone and keeps line breaks', () => {
    expect(renderWhatsAppText('2 * 3 * 4\nnext')).toBe('2 * 3 * 4<br>next');
  });
});
