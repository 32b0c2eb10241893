// Row → domain object mappings shared by the SQLite adapters (the store and the privacy store read the same tables).
import type { CampaignState } from '../../campaigns/campaign';
import type { Account, Campaign } from '../../campaigns/ports';

type Row = Record<string, unknown>;

export function toAccount(r: Row): Account {
  return {
    id: r.id as string,
    name: r.name as string,
    isSandbox: r.is_sandbox === 1,
    phoneNumberId: r.phone_number_id as string,
    wabaId: r.waba_id as string,
    messagesPerSecond: r.messages_per_second as number,
    dailyLimit: (r.daily_limit as number | null) ?? null,
    defaultCountry: (r.default_country as string | null) ?? null,
    retentionDays: r.retention_days as number,
    optOutWords: JSON.parse(r.opt_out_words as string) as string[],
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
