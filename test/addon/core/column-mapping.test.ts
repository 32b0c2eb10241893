import { describe, expect, it } from 'vitest';
import { buildRowUpload, cellText, findMappingProblems, headerIndex, type ComposeConfig } from '../../../addon/core/column-mapping';
import type { Template } from '../../../addon/core/service-contract';

const template: Template = {
  name: 'order_update', language: 'en', category: 'UTILITY', status: 'APPROVED', parameterFormat: 'positional',
  parameters: [
    { key: '1', component: 'body', example: 'Alice' },
    { key: '2', component: 'body', example: 'A-17' },
  ],
};
const headers = ['Name', 'Phone', 'Order', 'Image'];
const config: ComposeConfig = {
  sheetName: 'Sheet1', phoneColumn: 'phone', template: { name: 'order_update', language: 'en' },
  params: { '1': { kind: 'column', column: 'Name' }, '2': { kind: 'column', column: 'ORDER' } },
  selection: 'all',
};

describe('findMappingProblems', () => {
  it('accepts a complete mapping, matching headers case-insensitively', () => {
    expect(findMappingProblems(config, template, headers)).toEqual([]);
  });
  it('names each unmapped parameter, unknown parameter and missing column', () => {
    const problems = findMappingProblems(
      { ...config, phoneColumn: 'Tel', params: { '1': { kind: 'column', column: 'Gone' }, '9': { kind: 'fixed', value: 'x' } } },
      template, headers,
    );
    expect(problems).toHaveLength(4);
    expect(problems.join('\n')).toMatch(/phone column "Tel"/);
    expect(problems.join('\n')).toMatch(/\{\{2\}\}.*not mapped/);
    expect(problems.join('\n')).toMatch(/column "Gone"/);
    expect(problems.join('\n')).toMatch(/no parameter \{\{9\}\}/);
  });
  it('requires an https address for fixed header media', () => {
    const p = findMappingProblems({ ...config, headerMedia: { type: 'image', source: { kind: 'fixed', value: 'http://x/y.png' } } }, template, headers);
    expect(p).toEqual(['The header media address must start with https://.']);
  });
});

describe('buildRowUpload', () => {
  it('reads columns and fixed values into params, phone and header media', () => {
    const row = ['Alice', 14155550134, 'A-17', 'https://cdn.example.com/a.png'];
    const upload = buildRowUpload(row, 'k1', headerIndex(headers), {
      ...config,
      params: { '1': { kind: 'column', column: 'Name' }, '2': { kind: 'fixed', value: 'SALE' } },
      headerMedia: { type: 'image', source: { kind: 'column', column: 'Image' } },
    });
    expect(upload).toEqual({
      key: 'k1', to: '14155550134', params: { '1': 'Alice', '2': 'SALE' },
      headerMedia: { type: 'image', link: 'https://cdn.example.com/a.png' },
    });
  });
  it('omits header media when the row has no link', () => {
    const upload = buildRowUpload(['A', '1', 'x', ''], 'k', headerIndex(headers), {
      ...config, headerMedia: { type: 'image', source: { kind: 'column', column: 'Image' } },
    });
    expect(upload.headerMedia).toBeUndefined();
  });
});

describe('cellText', () => {
  it('formats cells the way a marketer typed them', () => {
    expect(cellText(919812345678)).toBe('919812345678');
    expect(cellText(12.5)).toBe('12.5');
    expect(cellText(new Date('2026-03-01T00:00:00Z'))).toBe('2026-03-01');
    expect(cellText('  hi ')).toBe('hi');
    expect(cellText(null)).toBe('');
  });
});
