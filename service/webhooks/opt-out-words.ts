// The words that mean "stop messaging me", in the languages our marketers send in. A reply that is only such a word
// (or a quick-reply button carrying one, such as Meta's "Stop promotions") puts the number on the opt-out list.

export const DEFAULT_OPT_OUT_WORDS: readonly string[] = [
  // English
  'stop', 'unsubscribe', 'stop all', 'stopall', 'end', 'cancel', 'quit', 'opt out', 'optout', 'stop promotions',
  // Spanish
  'baja', 'darme de baja', 'parar', 'detener', 'cancelar', 'no mas', 'no más',
  // Portuguese
  'sair', 'descadastrar', 'cancelar inscrição', 'parar mensagens',
  // Hindi (Devanagari and romanised)
  'रोकें', 'बंद करो', 'बंद', 'roko', 'band karo',
  // Indonesian
  'berhenti', 'keluar', 'stop langganan',
  // Arabic
  'توقف', 'إلغاء', 'الغاء', 'إلغاء الاشتراك', 'الغاء الاشتراك',
];

/** Lower case, accents kept, surrounding punctuation, emoji and spaces dropped. */
export function normaliseReply(text: string): string {
  return text.normalize('NFC').toLocaleLowerCase().replace(/^[\s\p{P}\p{S}]+|[\s\p{P}\p{S}]+$/gu, '').replace(/\s+/g, ' ');
}

/** True when the whole reply is an opt-out word of the built-in list or the account's own. */
export function isOptOutReply(text: string, accountWords: readonly string[] = []): boolean {
  const reply = normaliseReply(text);
  if (reply === '') return false;
  return DEFAULT_OPT_OUT_WORDS.includes(reply) || accountWords.some((w) => normaliseReply(w) === reply);
}
