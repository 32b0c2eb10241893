// Who a recipient is on Meta's 2026 platform: a business-scoped user id (BSUID) per business portfolio, a parent
// BSUID, an optional username that withholds the phone, and number or id changes. Pure state, no I/O, no timers.
//
// The simulator does not model Meta's rules for when a withheld phone is shared anyway (a message exchanged with
// that number in the last 30 days, or the portfolio's contact book; CLOUD_API.md §11): a username user's phone is
// always withheld from inbound webhooks, which is the case a sender must handle.

import { parsePhoneNumberFromString } from 'libphonenumber-js/min';
import metadata from 'libphonenumber-js/min/metadata';
import { USERNAME_USER_SUFFIX } from './outcome-rules';
import { drawsFor } from './seeded-random';

/** One person as one portfolio sees them. */
export interface UserIdentity {
  /** Current phone digits. */
  waId: string;
  /** BSUID in this portfolio, e.g. `US.13491208655302741918`. */
  userId: string;
  /** Parent BSUID shared by all portfolios (`US.ENT.…`), used by managed businesses. */
  parentUserId: string;
  /** Set when the user adopted a username; their phone is then withheld from inbound webhooks. */
  username: string | undefined;
}

/** Settings read on every lookup, so `setOutcomes` can change them. */
export interface UsernameSettings {
  /** Share of recipients who adopted a username (and withhold their phone). Default 0. */
  usernameShare?: number;
  seed?: number;
}

/** `CC.` or `CC.ENT.` then alphanumerics, as Meta documents (CLOUD_API.md §11). */
export const USER_ID_PATTERN = /^[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}$/;

const callingCodes = (metadata as unknown as { country_calling_codes: Record<string, string[]> }).country_calling_codes;
const USERNAME_STEMS = ['ana', 'jose', 'zoe', 'mateo', 'ngozi', 'lucja', 'ravi', 'chloe', 'kenji', 'ife'];

/**
 * ISO 3166 alpha-2 region of a phone: the calling code's only country when it has one (cheap, the common case),
 * else libphonenumber's answer, else the calling code's main country, else `ZZ`.
 */
export function regionOf(waId: string): string {
  for (let length = 1; length <= 3; length++) {
    const countries = callingCodes[waId.slice(0, length)];
    if (!countries) continue;
    if (countries.length === 1) return countries[0]!;
    return parsePhoneNumberFromString(`+${waId}`)?.country ?? countries[0]!;
  }
  return 'ZZ';
}

/** 20 decimal digits from a 64-bit FNV-1a hash of `key`. */
function digitsOf(key: string): string {
  let hash = 0xcbf29ce484222325n;
  for (let i = 0; i < key.length; i++) hash = BigInt.asUintN(64, (hash ^ BigInt(key.charCodeAt(i))) * 0x100000001b3n);
  return hash.toString().padStart(20, '1');
}

/**
 * BSUIDs keyed by (portfolio, phone, generation). A phone's generation grows when its owner changes number or id,
 * so the old BSUID is never issued again and no longer resolves (sends to it are treated as unknown recipients).
 */
export class UserDirectory {
  /** Cached identities per portfolio, then phone: keyed in two steps rather than by a joined string built per send. */
  private readonly identities = new Map<string, Map<string, UserIdentity>>();
  /**
   * Who each issued BSUID and parent BSUID names. Filled lazily from `unindexed` when first read: almost every send
   * goes by phone and issues a new identity, and two inserts into this ever-growing map per send were a measurable
   * share of the simulator's CPU; a send by BSUID then pays for the identities issued since the last one.
   */
  private readonly byUserId = new Map<string, { portfolio: string | undefined; waId: string }>();
  /** Identities issued but not yet in `byUserId`, in issue order, with their portfolios at the same index. */
  private readonly unindexed: UserIdentity[] = [];
  private readonly unindexedPortfolios: string[] = [];
  private readonly generations = new Map<string, number>();
  /** Usernames set explicitly (`null` = none), overriding the share draw; carried over a number change. */
  private readonly usernames = new Map<string, string | null>();

  constructor(private readonly settings: () => UsernameSettings) {}

  /** The identity of `waId` in `portfolio` (the WABA id); issues its BSUIDs on first use. */
  identify(portfolio: string, waId: string): UserIdentity {
    let cached = this.identities.get(portfolio);
    if (!cached) this.identities.set(portfolio, (cached = new Map()));
    let identity = cached.get(waId);
    if (!identity) {
      const generation = this.generations.get(waId) ?? 0;
      const region = regionOf(waId);
      identity = {
        waId,
        userId: `${region}.${digitsOf(`${portfolio}|${waId}|${generation}`)}`,
        parentUserId: `${region}.ENT.${digitsOf(`parent|${waId}|${generation}`)}`,
        username: this.usernameOf(waId),
      };
      cached.set(waId, identity);
      this.unindexed.push(identity);
      this.unindexedPortfolios.push(portfolio);
    }
    return identity;
  }

  /**
   * The person a BSUID (of this portfolio) or a parent BSUID names, as this portfolio sees them; undefined for an
   * id never issued, retired by a change, or issued by another portfolio.
   */
  resolve(portfolio: string, userId: string): UserIdentity | undefined {
    this.indexIssued();
    const owner = this.byUserId.get(userId);
    if (!owner || (owner.portfolio !== undefined && owner.portfolio !== portfolio)) return undefined;
    const identity = this.identify(portfolio, owner.waId);
    return identity.userId === userId || identity.parentUserId === userId ? identity : undefined;
  }

  /** Gives `waId` a username (or none with `null`), overriding the share; forgets cached identities. */
  setUsername(waId: string, username: string | null): void {
    this.usernames.set(waId, username);
    this.forget(waId);
  }

  /**
   * The user of `oldWaId` now has `newWaId`: new BSUIDs in every portfolio, the username moves with them.
   * Returns the identities before and after, in `portfolio`.
   */
  changeNumber(portfolio: string, oldWaId: string, newWaId: string): { previous: UserIdentity; current: UserIdentity } {
    const previous = this.identify(portfolio, oldWaId);
    const username = this.usernames.has(oldWaId) ? this.usernames.get(oldWaId)! : (previous.username ?? null);
    this.retire(oldWaId);
    this.retire(newWaId);
    this.usernames.delete(oldWaId);
    this.usernames.set(newWaId, username);
    return { previous, current: this.identify(portfolio, newWaId) };
  }

  /** The user of `waId` gets new BSUIDs (same phone). Returns the identities before and after, in `portfolio`. */
  changeUserId(portfolio: string, waId: string): { previous: UserIdentity; current: UserIdentity } {
    const previous = this.identify(portfolio, waId);
    this.retire(waId);
    return { previous, current: this.identify(portfolio, waId) };
  }

  /** Forgets cached identities (BSUIDs stay the same); call when the username share changes. */
  clearCache(): void {
    this.identities.clear();
  }

  private usernameOf(waId: string): string | undefined {
    const explicit = this.usernames.get(waId);
    if (explicit !== undefined) return explicit ?? undefined;
    const { usernameShare = 0, seed = 0 } = this.settings();
    // The fixed rule's username user, so that the sandbox shows one at any share.
    const isFixed = waId.endsWith(USERNAME_USER_SUFFIX);
    if (!isFixed && (usernameShare <= 0 || drawsFor(`username|${seed}|${waId}`)() >= usernameShare)) return undefined;
    return `${USERNAME_STEMS[Number(waId.slice(-1)) % USERNAME_STEMS.length]}.${waId.slice(-4)}`;
  }

  /** Brings `byUserId` up to date with every identity issued so far, in the order they were issued. */
  private indexIssued(): void {
    for (let i = 0; i < this.unindexed.length; i++) {
      const { userId, parentUserId, waId } = this.unindexed[i]!;
      this.byUserId.set(userId, { portfolio: this.unindexedPortfolios[i], waId });
      this.byUserId.set(parentUserId, { portfolio: undefined, waId });
    }
    this.unindexed.length = 0;
    this.unindexedPortfolios.length = 0;
  }

  private retire(waId: string): void {
    this.indexIssued();
    for (const cached of this.identities.values()) {
      const identity = cached.get(waId);
      if (!identity) continue;
      this.byUserId.delete(identity.userId);
      this.byUserId.delete(identity.parentUserId);
      cached.delete(waId);
    }
    this.generations.set(waId, (this.generations.get(waId) ?? 0) + 1);
  }

  private forget(waId: string): void {
    for (const cached of this.identities.values()) cached.delete(waId);
  }
}
