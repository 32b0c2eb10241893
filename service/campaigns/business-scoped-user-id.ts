// Business-scoped user ids (BSUIDs, CLOUD_API.md §11): since April 2026 Meta names every WhatsApp user in webhooks
// by an id unique to the business portfolio, and withholds the phone number of users who adopted a username.
// A recipient of ours is therefore either an E.164 number or a BSUID; both live in the same `to` of a row and of a
// suppression, and the account keeps which BSUID belongs to which number (learnt from webhooks) to join the two.

/**
 * ISO 3166 alpha-2, a dot, up to 128 alphanumerics (`US.13491208655302741918`); a parent id of an enrolled managed
 * business has `ENT.` after the region (`US.ENT.…`). Used whole, never split or normalised.
 */
const BSUID = /^[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}$/;

export function isBusinessScopedUserId(value: string): boolean {
  return BSUID.test(value);
}

/** A phone ↔ BSUID pair Meta told us about: `phones` holds the number's spellings, empty when Meta withheld it. */
export interface RecipientIdentity {
  userId: string;
  phones: readonly string[];
}
