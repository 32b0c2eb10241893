// Numbers Meta rewrites: a reply's `from` may not be the number we sent to. Mexico's mobile "1" after +52 and
// Brazil's ninth digit come and go (CLOUD_API.md 1.1), so a reply is matched against every spelling.

/** The E.164 spellings a WhatsApp id (digits, no "+") may stand for, the id's own first. */
export function recipientVariants(waId: string): string[] {
  const digits = waId.replace(/\D/g, '');
  const variants = new Set([`+${digits}`]);
  if (digits.startsWith('521') && digits.length === 13) variants.add(`+52${digits.slice(3)}`);
  else if (digits.startsWith('52') && digits.length === 12) variants.add(`+521${digits.slice(2)}`);
  if (digits.startsWith('55')) {
    const area = digits.slice(2, 4);
    const local = digits.slice(4);
    if (local.length === 9 && local.startsWith('9')) variants.add(`+55${area}${local.slice(1)}`);
    else if (local.length === 8) variants.add(`+55${area}9${local}`);
  }
  return [...variants];
}
