// Creates accounts: real ones with Meta credentials, sandbox ones wired to the built-in simulator.
// The API key is returned once; only its hash is stored, and secrets are sealed by the store's cipher.
import type { Account, AccountSecrets } from '../campaigns/ports';
import { AppError } from '../errors';
import { isKnownCountry } from '../campaigns/phone-number';

export interface NewAccountInput {
  name: string;
  isSandbox: boolean;
  phoneNumberId?: string;
  wabaId?: string;
  accessToken?: string;
  appSecret?: string;
  verifyToken?: string;
  messagesPerSecond?: number;
  dailyLimit?: number | null;
  defaultCountry?: string | null;
  retentionDays?: number;
}

export interface AccountFactoryDeps {
  insert(input: { account: Account; secrets: AccountSecrets; apiKeyHash: string }): Promise<void>;
  generateApiKey(): string;
  hashApiKey(key: string): string;
  randomToken(): string;
  randomDigits(count: number): string;
  newId(): string;
  now(): number;
}

/** Longest retention an account may ask for: ten years. */
export const MAX_RETENTION_DAYS = 3650;

/** Throws AppError('bad_request') unless `days` is a whole number of days from 1 to MAX_RETENTION_DAYS. */
export function assertRetentionDays(days: number): void {
  if (!Number.isInteger(days) || days < 1 || days > MAX_RETENTION_DAYS) {
    throw new AppError('bad_request', `Retention must be a whole number of days from 1 to ${MAX_RETENTION_DAYS}.`);
  }
}

/** Meta's messaging limit tiers (CLOUD_API.md 3.3); null is unlimited. */
export const DAILY_LIMIT_TIERS = [250, 2000, 10000, 100000] as const;

export async function createAccount(deps: AccountFactoryDeps, input: NewAccountInput): Promise<{ account: Account; apiKey: string }> {
  if (!input.name.trim()) throw new AppError('bad_request', 'An account needs a name.');
  const mps = input.messagesPerSecond ?? 80;
  if (!Number.isInteger(mps) || mps < 1 || mps > 1000) {
    throw new AppError('bad_request', 'Messages per second must be a whole number from 1 to 1,000 (Meta allows 80 or 1,000).');
  }
  const dailyLimit = input.dailyLimit === undefined ? (input.isSandbox ? null : 250) : input.dailyLimit;
  if (dailyLimit !== null && (!Number.isInteger(dailyLimit) || dailyLimit < 1)) {
    throw new AppError('bad_request', 'The daily limit must be a positive whole number of unique recipients.');
  }
  const defaultCountry = input.defaultCountry ? input.defaultCountry.toUpperCase() : null;
  if (defaultCountry && !isKnownCountry(defaultCountry)) {
    throw new AppError('bad_request', `"${input.defaultCountry}" is not a two-letter country code.`);
  }
  const retentionDays = input.retentionDays ?? 30;
  assertRetentionDays(retentionDays);
  let secrets: AccountSecrets;
  let phoneNumberId: string;
  let wabaId: string;
  if (input.isSandbox) {
    phoneNumberId = input.phoneNumberId ?? `1${deps.randomDigits(14)}`;
    wabaId = input.wabaId ?? `2${deps.randomDigits(14)}`;
    secrets = { accessToken: `sandbox_${deps.randomToken()}`, appSecret: deps.randomToken(), verifyToken: deps.randomToken() };
  } else {
    const missing = (['phoneNumberId', 'wabaId', 'accessToken', 'appSecret', 'verifyToken'] as const).filter((k) => !input[k]);
    if (missing.length > 0) throw new AppError('bad_request', `Missing ${missing.join(', ')} (or use --sandbox).`);
    phoneNumberId = input.phoneNumberId as string;
    wabaId = input.wabaId as string;
    secrets = { accessToken: input.accessToken as string, appSecret: input.appSecret as string, verifyToken: input.verifyToken as string };
  }
  const account: Account = {
    id: deps.newId(),
    name: input.name.trim(),
    isSandbox: input.isSandbox,
    phoneNumberId,
    wabaId,
    messagesPerSecond: mps,
    dailyLimit,
    defaultCountry,
    retentionDays,
    optOutWords: [],
    marketingMessagesApi: false,
    createdAt: deps.now(),
  };
  const apiKey = deps.generateApiKey();
  await deps.insert({ account, secrets, apiKeyHash: deps.hashApiKey(apiKey) });
  return { account, apiKey };
}
