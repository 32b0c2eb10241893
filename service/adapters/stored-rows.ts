// Row → domain object mappings shared by both stores: SQLite's and PostgreSQL's schemas name their columns alike.
// Numbers arrive as numbers (postgres-sql.ts parses int8), JSON as TEXT; a boolean is SQLite's 1 or PostgreSQL's true.
import { isBusinessScopedUserId } from '../campaigns/business-scoped-user-id';
import type { CampaignState } from '../campaigns/campaign';
import type { MessageStatus } from '../campaigns/message-status';
import type { Account, AccountSecrets, Campaign, MessageError, MessageView } from '../campaigns/ports';
import type { ExportedMessage } from '../privacy/privacy-ports';
import type { SuppressionEntry } from '../service-store';

type Row = Record<string, unknown>;

/** The sealed secrets of an account row, opened with `cipher` (in memory only). */
export function toSecrets(r: Row, cipher: { decrypt(sealed: string): string }): AccountSecrets {
  return {
    accessToken: cipher.decrypt(r.access_token_enc as string),
    appSecret: cipher.decrypt(r.app_secret_enc as string),
    verifyToken: cipher.decrypt(r.verify_token_enc as string),
  };
}

function errorOf(r: Row): MessageError | null {
  return r.error_code ? { code: r.error_code as string, message: (r.error_message as string | null) ?? '' } : null;
}

export function toAccount(r: Row): Account {
  return {
    id: r.id as string,
    name: r.name as string,
    isSandbox: r.is_sandbox === true || r.is_sandbox === 1,
    phoneNumberId: r.phone_number_id as string,
    wabaId: r.waba_id as string,
    messagesPerSecond: r.messages_per_second as number,
    dailyLimit: (r.daily_limit as number | null) ?? null,
    defaultCountry: (r.default_country as string | null) ?? null,
    retentionDays: r.retention_days as number,
    optOutWords: JSON.parse(r.opt_out_words as string) as string[],
    marketingMessagesApi: r.marketing_messages_api === true || r.marketing_messages_api === 1,
    createdAt: r.created_at as number,
  };
}

export function toCampaign(r: Row): Campaign {
  return {
    id: r.id as string,
    accountId: r.account_id as string,
    name: r.name as string,
    template: { name: r.template_name as string, language: r.template_language as string },
    templateDefinition: JSON.parse(r.template_json as string),
    sendAt: (r.send_at as number | null) ?? null,
    defaultCountry: (r.default_country as string | null) ?? null,
    sheet: r.sheet_json ? JSON.parse(r.sheet_json as string) : null,
    state: r.state as CampaignState,
    stateReason: r.state_reason_json ? JSON.parse(r.state_reason_json as string) : null,
    createdAt: r.created_at as number,
    startedAt: (r.started_at as number | null) ?? null,
    finishedAt: (r.finished_at as number | null) ?? null,
  };
}

/** A feed item's columns, from `messages`; the BSUID is the latest the account learnt for the row's number. */
export const VIEW_COLUMNS = `seq, row_key, to_e164, status, wamid, error_code, error_message, reply_text, reply_at, updated_at,
  next_attempt_at, (SELECT r.user_id FROM recipient_ids r WHERE r.account_id = messages.account_id AND r.to_e164 = messages.to_e164
    ORDER BY r.updated_at DESC LIMIT 1) AS user_id`;

export function toView(r: Row): MessageView {
  return {
    seq: r.seq as number,
    key: r.row_key as string,
    to: r.to_e164 as string,
    status: r.status as MessageStatus,
    wamid: (r.wamid as string | null) ?? null,
    error: errorOf(r),
    reply: r.reply_text !== null && r.reply_text !== undefined
      ? { text: r.reply_text as string, at: r.reply_at as number } : null,
    updatedAt: r.updated_at as number,
    nextAttemptAt: r.status === 'queued' && (r.next_attempt_at as number) > 0 ? r.next_attempt_at as number : null,
    userId: isBusinessScopedUserId(r.to_e164 as string) ? r.to_e164 as string : (r.user_id as string | null | undefined) ?? null,
  };
}

export function toExportedMessage(r: Row): ExportedMessage {
  return {
    campaignId: r.campaign_id as string,
    key: r.row_key as string,
    to: r.to_e164 as string,
    status: r.status as MessageStatus,
    params: r.params_json ? JSON.parse(r.params_json as string) as Record<string, string> : null,
    headerMedia: r.header_media_json ? JSON.parse(r.header_media_json as string) : null,
    wamid: (r.wamid as string | null) ?? null,
    error: errorOf(r),
    attempts: r.attempts as number,
    sentAt: (r.sent_at as number | null) ?? null,
    reply: r.reply_at !== null && r.reply_at !== undefined
      ? { text: (r.reply_text as string | null) ?? null, at: r.reply_at as number } : null,
    updatedAt: r.updated_at as number,
  };
}

/**
 * The suppression list as people: the rows of SUPPRESSION_LIST_SQL (one per suppressed id), a BSUID whose number is
 * suppressed too folded into that number's entry. Both stores keep each id of a person as its own row (so a claim
 * checks one key), and show them as one.
 */
export const SUPPRESSION_LIST_SQL = (accountParam: string): string => `
  SELECT s.to_e164, s.source, s.created_at,
    (SELECT r.user_id FROM recipient_ids r JOIN suppressions linked ON linked.account_id = r.account_id AND linked.to_e164 = r.user_id
     WHERE r.account_id = s.account_id AND r.to_e164 = s.to_e164 ORDER BY r.updated_at DESC LIMIT 1) AS linked_user_id,
    EXISTS (SELECT 1 FROM recipient_ids r JOIN suppressions linked ON linked.account_id = r.account_id AND linked.to_e164 = r.to_e164
     WHERE r.account_id = s.account_id AND r.user_id = s.to_e164) AS is_folded
  FROM suppressions s WHERE s.account_id = ${accountParam} ORDER BY s.created_at DESC, s.to_e164`;

/** One row of SUPPRESSION_LIST_SQL as a person, or null for a BSUID folded into its number's entry. */
export function toSuppressionEntry(r: Row): SuppressionEntry | null {
  const key = r.to_e164 as string;
  const base = { source: r.source as string, createdAt: r.created_at as number };
  if (!isBusinessScopedUserId(key)) return { to: key, userId: (r.linked_user_id as string | null) ?? null, ...base };
  return r.is_folded ? null : { to: null, userId: key, ...base };
}

export function toSuppressionEntries(rows: readonly Row[]): SuppressionEntry[] {
  return rows.map(toSuppressionEntry).filter((entry): entry is SuppressionEntry => entry !== null);
}
