// Turns a number as typed in a sheet into E.164, or says why it cannot be one.
// libphonenumber-js with full metadata: "possible" is not enough, a sheet full of typos must be caught here.
import { isBusinessScopedUserId } from './business-scoped-user-id';
import { isSupportedCountry, parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/max';

/** `e164`: the number in E.164 (or, from normaliseRecipient, a business-scoped user id as given). */
export type PhoneResult = { ok: true; e164: string } | { ok: false; message: string };

/**
 * A recipient as typed in a sheet: a WhatsApp business-scoped user id (a CRM export of username-only users) is kept
 * whole, anything else must be a phone number (normalisePhoneNumber).
 */
export function normaliseRecipient(raw: unknown, defaultCountry: string | null): PhoneResult {
  if (typeof raw === 'string' && isBusinessScopedUserId(raw.trim())) return { ok: true, e164: raw.trim() };
  return normalisePhoneNumber(raw, defaultCountry);
}

/**
 * Normalises `raw` (spaces, dashes, dots, parentheses, a leading 00 or +) to E.164 using `defaultCountry`
 * (ISO 3166 alpha-2) for numbers typed without a country code. A sheet cell may arrive as a JS number
 * (a whole number is read as its digits) or with the `+` stripped; both are handled. Never throws.
 */
export function normalisePhoneNumber(raw: unknown, defaultCountry: string | null): PhoneResult {
  if (typeof raw === 'number') raw = Number.isInteger(raw) ? String(raw) : '';
  if (typeof raw !== 'string' || raw.trim() === '') return { ok: false, message: 'The phone number is empty.' };
  let text = raw.trim();
  if (text.length > 40) return { ok: false, message: 'The phone number is too long.' };
  if (text.startsWith('00')) text = `+${text.slice(2)}`;
  const country = defaultCountry ? (defaultCountry.toUpperCase() as CountryCode) : undefined;
  let parsed = parsePhoneNumberFromString(text, country);
  // A number stored without its "+" but with a country code ("919876543210") reads as national first.
  if ((!parsed || !parsed.isValid()) && /^\d{10,15}$/.test(text)) {
    const international = parsePhoneNumberFromString(`+${text}`);
    if (international?.isValid()) parsed = international;
  }
  if (!parsed) {
    return {
      ok: false,
      message: country
        ? `"${raw}" is not a phone number.`
        : `"${raw}" has no country code and no default country is set.`,
    };
  }
  if (!parsed.isValid()) return { ok: false, message: `"${raw}" is not a valid ${parsed.country ?? ''} phone number.`.replace('  ', ' ') };
  return { ok: true, e164: parsed.number };
}

/** True when `code` is an ISO 3166 alpha-2 region libphonenumber knows. */
export function isKnownCountry(code: string): boolean {
  return /^[A-Za-z]{2}$/.test(code) && isSupportedCountry(code.toUpperCase());
}
