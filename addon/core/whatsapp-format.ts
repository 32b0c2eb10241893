// Renders WhatsApp message markup (*bold*, _italic_, ~strike~, ```mono```) as safe HTML, so the preview reads as
// the recipient will see it. Pure string work; every input character is HTML-escaped before any tag is added.

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for use inside HTML. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/**
 * Returns HTML for a WhatsApp text: markup becomes `<b>`, `<i>`, `<s>`, `<code>`; line breaks become `<br>`.
 * A marker only counts when it hugs a word on both sides, as in the WhatsApp apps (`2 * 3 * 4` stays as is).
 */
export function renderWhatsAppText(text: string): string {
  let html = escapeHtml(text);
  html = html.replace(/```([\s\S]+?)```/g, '<code>$1</code>');
  html = html.replace(/(^|[\s(>])\*(\S(?:[^*\n]*\S)?)\*(?=$|[\s.,!?:;)<])/g, '$1<b>$2</b>');
  html = html.replace(/(^|[\s(>])_(\S(?:[^_\n]*\S)?)_(?=$|[\s.,!?:;)<])/g, '$1<i>$2</i>');
  html = html.replace(/(^|[\s(>])~(\S(?:[^~\n]*\S)?)~(?=$|[\s.,!?:;)<])/g, '$1<s>$2</s>');
  return html.replace(/\r?\n/g, '<br>');
}
