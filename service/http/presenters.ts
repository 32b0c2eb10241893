// Domain records → the JSON shapes of API.md (ISO times, API field names).
import type { Account, Campaign, MessageView, StatusCounts } from '../campaigns/ports';
import type { TemplateDefinition } from '../campaigns/template';
import { renderTemplate } from '../campaigns/template-params';
import { healthAsJson, type AccountHealth } from '../webhooks/account-health';
import type { AccountHealthResponse, AccountResponse, CampaignResponse, MessageItem, TemplateResponse } from './contract';

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export function presentAccount(
  account: Account, webhookUrl: string, serviceAccountEmail: string | null, health: AccountHealth,
): AccountResponse {
  return {
    id: account.id,
    name: account.name,
    sandbox: account.isSandbox,
    phoneNumberId: account.phoneNumberId,
    messagesPerSecond: account.messagesPerSecond,
    dailyLimit: account.dailyLimit,
    defaultCountry: account.defaultCountry,
    retentionDays: account.retentionDays,
    marketingMessagesApi: account.marketingMessagesApi,
    webhookUrl,
    serviceAccountEmail,
    health: presentHealth(health),
  };
}

export function presentHealth(h: AccountHealth): AccountHealthResponse {
  return healthAsJson(h);
}

export function presentTemplate(t: TemplateDefinition): TemplateResponse {
  const text = renderTemplate(t, {});
  return {
    name: t.name,
    language: t.language,
    category: t.category,
    status: t.status,
    parameterFormat: t.parameterFormat,
    headerFormat: t.headerFormat,
    parameters: t.parameters,
    text: { header: text.header, body: text.body, footer: text.footer },
  };
}

export function presentCampaign(c: Campaign, counts?: StatusCounts): CampaignResponse {
  return {
    id: c.id,
    name: c.name,
    state: c.state,
    stateReason: c.stateReason,
    template: c.template,
    sendAt: iso(c.sendAt),
    createdAt: iso(c.createdAt) as string,
    startedAt: iso(c.startedAt),
    finishedAt: iso(c.finishedAt),
    sheet: c.sheet,
    ...(counts ? { counts } : {}),
  };
}

export function presentMessage(m: MessageView): MessageItem {
  return {
    key: m.key,
    to: m.to,
    status: m.status,
    wamid: m.wamid,
    error: m.error,
    reply: m.reply ? { text: m.reply.text, at: new Date(m.reply.at).toISOString() } : null,
    updatedAt: new Date(m.updatedAt).toISOString(),
    ...(m.nextAttemptAt !== null ? { nextAttemptAt: new Date(m.nextAttemptAt).toISOString() } : {}),
    ...(m.userId !== null ? { userId: m.userId } : {}),
  };
}
