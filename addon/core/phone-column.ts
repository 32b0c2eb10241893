// Guesses which column holds the recipients' phone numbers, from header words and from what the cells look like.
// Pure: the caller passes the header row and a sample of data rows.
import { isStatusHeader } from './status-columns';

const HEADER_WORDS: readonly [RegExp, number][] = [
  [/whats\s*app|\bwa\b/i, 4],
  [/phone|mobile|cell|móvil|movil|celular|telefone|téléphone|telefon|handy/i, 3],
  [/\bmsisdn\b|\btel\b|contact\s*no|number|numero|número/i, 2],
];

/** How phone-like a cell is: 7–15 digits, optionally with +, spaces, dashes, dots and brackets. */
export function looksLikePhone(value: unknown): boolean {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 1e6 && value < 1e15;
  if (typeof value !== 'string') return false;
  const s = value.trim();
  if (!/^\+?[\d\s().-]+$/.test(s)) return false;
  const digits = s.replace(/\D/g, '').length;
  return digits >= 7 && digits <= 15;
}

/**
 * Returns the 0-based index of the most likely phone column, or null when nothing looks like one. A header word
 * alone is enough when the sample is empty; otherwise at least half the non-empty sample cells must look like numbers.
 */
export function detectPhoneColumn(headers: readonly unknown[], sampleRows: readonly (readonly unknown[])[]): number | null {
  let best: { index: number; score: number } | null = null;
  headers.forEach((header, index) => {
    if (isStatusHeader(header)) return;
    const text = String(header ?? '');
    let score = 0;
    for (const [re, weight] of HEADER_WORDS) if (re.test(text)) score = Math.max(score, weight);
    const cells = sampleRows.map((r) => r[index]).filter((v) => v !== '' && v !== null && v !== undefined);
    if (cells.length > 0) {
      const share = cells.filter(looksLikePhone).length / cells.length;
      if (share < 0.5) return;
      score += share * 2;
    }
    if (score > 0 && (!best || score > best.score)) best = { index, score };
  });
  return best === null ? null : (best as { index: number }).index;
}
