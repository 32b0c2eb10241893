// The simulator's own JSON control API under `/__sim/`, for tests, benchmarks and the service's sandbox driving a
// simulator: numbers, faults, outcomes, users and their ids, and on-demand webhooks. Maps each route onto a
// public `CloudApiSimulator` method; holds no state of its own.

import type { CloudApiSimulator, NumberConfig, WebhookTargetRef } from './cloud-api-simulator';
import type { FaultOptions } from './fault-injector';
import type { AccountUpdate, PhoneNumberQualityUpdate, TemplateCategoryUpdate, TemplateStatusUpdate } from './management-webhooks';
import type { OutcomeDelays, OutcomeOptions } from './outcome-rules';
import type { MessageTemplate } from './template-catalog';

/** `[HTTP status, JSON body]`. */
export type ControlAnswer = [number, unknown];

/** Default and maximum rows of `GET /__sim/ledger?list=1`. */
const LEDGER_PAGE = 1000;
const LEDGER_PAGE_MAX = 100_000;

/** Runs `answer`, turning the `RangeError` of an unknown number, template or BSUID into a 404. */
function orNotFound(answer: () => ControlAnswer): ControlAnswer {
  try {
    return answer();
  } catch (error) {
    if (error instanceof RangeError) return [404, { error: { message: error.message } }];
    throw error;
  }
}

function parse<T>(raw: string | undefined): T {
  if (!raw) return {} as T;
  return JSON.parse(raw) as T;
}

/**
 * Routes (all JSON):
 * - `POST /__sim/numbers` NumberConfig → 201; `DELETE /__sim/numbers/{id}`; `GET /__sim/numbers/{id}`
 * - `PATCH /__sim/numbers/{id}` part of a NumberConfig (e.g. `{marketingOnMessagesDisabled: true}`,
 *   `{usMarketingBlocked: true}`, `{webhookUrl}`) → the number
 * - `POST /__sim/faults` FaultOptions (replaces all) → the faults in force; `GET /__sim/faults`
 * - `POST /__sim/outcomes` `{outcomes?, delays?}` → 200 (outcomes include `usernameShare`, `frequencyCapShare`)
 * - `POST /__sim/templates` `{wabaId, templates}` → 200
 * - `GET /__sim/ledger` → `{size, duplicates, countsByCallbackData}`; with `?list=1&offset=&limit=` → `{size, entries}`
 * - `GET /__sim/ledger/duplicate-recipients` → `{duplicates}`: one person sent one template more than once, by phone or BSUID
 * - `POST /__sim/ledger/clear`
 * - `GET /__sim/stats`, `POST /__sim/stats/reset`
 * - `POST /__sim/inbound` `{phoneNumberId, from | fromUserId, text, contextWamid?}` → `{wamid}`
 * - `POST /__sim/user-preferences` `{phoneNumberId, waId | userId, value: "stop"|"resume"}`
 * - `GET /__sim/users?phoneNumberId=&waId=` (or `&userId=`) → `{wa_id, user_id, parent_user_id, username?}`
 * - `POST /__sim/users/username` `{waId, username | null}`: the person adopts (or drops) a username
 * - `POST /__sim/users/change-number` `{phoneNumberId, waId | userId, newWaId}` → the new identity + `previous_user_id`;
 *   posts a `system` message (`user_changed_number`, or `user_changed_user_id` for a username user)
 * - `POST /__sim/users/change-user-id` `{phoneNumberId, waId | userId}` → the same; posts `user_changed_user_id`
 * - Management webhooks, each `{phoneNumberId | wabaId, ...}`:
 *   `POST /__sim/webhooks/template-status` TemplateStatusUpdate (also applied: PAUSED → 132015, DISABLED → 132016);
 *   `POST /__sim/webhooks/template-category` TemplateCategoryUpdate (completed: the category changes);
 *   `POST /__sim/webhooks/phone-number-quality` PhoneNumberQualityUpdate (`phoneNumberId` required);
 *   `POST /__sim/webhooks/account-update` AccountUpdate;
 *   `POST /__sim/webhooks/management` `{field, value}`: any field, posted as given
 * - `POST /__sim/webhooks/flush`, `POST /__sim/webhooks/idle` (optional `?timeoutMs=`) → 200 once done, 504 on timeout
 * Throws on malformed JSON (answered 400 by the caller); an unknown number, template or BSUID answers 404.
 */
export async function handleControlRoute(
  sim: CloudApiSimulator,
  method: string,
  path: string,
  query: URLSearchParams,
  raw: string | undefined,
): Promise<ControlAnswer> {
  const route = `${method} ${path.replace(/\/+$/, '')}`;
  switch (route) {
    case 'POST /__sim/numbers':
      sim.registerNumber(parse<NumberConfig>(raw));
      return [201, { ok: true }];
    case 'POST /__sim/faults':
      sim.setFaults(parse<FaultOptions>(raw));
      return [200, { faults: sim.getFaults() }];
    case 'GET /__sim/faults':
      return [200, { faults: sim.getFaults() }];
    case 'POST /__sim/outcomes': {
      const body = parse<{ outcomes?: OutcomeOptions; delays?: OutcomeDelays }>(raw);
      sim.setOutcomes(body.outcomes ?? {}, body.delays);
      return [200, { ok: true }];
    }
    case 'POST /__sim/templates': {
      const body = parse<{ wabaId?: string; templates?: MessageTemplate[] }>(raw);
      if (!body.wabaId || !Array.isArray(body.templates)) return [400, { error: { message: 'wabaId and templates[] are required' } }];
      sim.setTemplates(body.wabaId, body.templates);
      return [200, { ok: true, count: body.templates.length }];
    }
    case 'GET /__sim/ledger': {
      if (query.get('list')) {
        const offset = Number(query.get('offset') ?? 0) || 0;
        const limit = Math.min(LEDGER_PAGE_MAX, Number(query.get('limit') ?? LEDGER_PAGE) || LEDGER_PAGE);
        return [200, { size: sim.ledger.size, entries: sim.ledger.entries(offset, limit) }];
      }
      return [
        200,
        { size: sim.ledger.size, duplicates: sim.ledger.duplicates(), countsByCallbackData: Object.fromEntries(sim.countsByCallbackData()) },
      ];
    }
    case 'POST /__sim/ledger/clear':
      sim.clearLedger();
      return [200, { ok: true }];
    case 'GET /__sim/stats':
      return [200, sim.stats()];
    case 'POST /__sim/stats/reset':
      sim.resetStats();
      return [200, { ok: true }];
    case 'POST /__sim/inbound': {
      const body = parse<{ phoneNumberId: string; from?: string; fromUserId?: string; text: string; contextWamid?: string }>(raw);
      const options = body.contextWamid ? { contextWamid: body.contextWamid } : {};
      return orNotFound(() => [200, { wamid: sim.emitInboundText(body.phoneNumberId, body.from ?? body.fromUserId ?? '', body.text, options) }]);
    }
    case 'POST /__sim/user-preferences': {
      const body = parse<{ phoneNumberId: string; waId?: string; userId?: string; value: 'stop' | 'resume' }>(raw);
      return orNotFound(() => {
        sim.emitUserPreference(body.phoneNumberId, body.waId ?? body.userId ?? '', body.value === 'resume' ? 'resume' : 'stop');
        return [200, { ok: true }];
      });
    }
    case 'GET /__sim/users':
      return orNotFound(() => [200, sim.userIdentity(query.get('phoneNumberId') ?? '', query.get('waId') ?? query.get('userId') ?? '')]);
    case 'POST /__sim/users/username': {
      const body = parse<{ waId: string; username: string | null }>(raw);
      sim.setUsername(body.waId, body.username ?? null);
      return [200, { ok: true }];
    }
    case 'POST /__sim/users/change-number': {
      const body = parse<{ phoneNumberId: string; waId?: string; userId?: string; newWaId: string }>(raw);
      return orNotFound(() => [200, sim.changeUserNumber(body.phoneNumberId, body.waId ?? body.userId ?? '', body.newWaId)]);
    }
    case 'POST /__sim/users/change-user-id': {
      const body = parse<{ phoneNumberId: string; waId?: string; userId?: string }>(raw);
      return orNotFound(() => [200, sim.changeUserId(body.phoneNumberId, body.waId ?? body.userId ?? '')]);
    }
    case 'POST /__sim/webhooks/template-status': {
      const body = parse<WebhookTargetRef & TemplateStatusUpdate>(raw);
      return orNotFound(() => (sim.emitTemplateStatusUpdate(body, body), [200, { ok: true }]));
    }
    case 'POST /__sim/webhooks/template-category': {
      const body = parse<WebhookTargetRef & TemplateCategoryUpdate>(raw);
      return orNotFound(() => (sim.emitTemplateCategoryUpdate(body, body), [200, { ok: true }]));
    }
    case 'POST /__sim/webhooks/phone-number-quality': {
      const body = parse<{ phoneNumberId: string } & PhoneNumberQualityUpdate>(raw);
      return orNotFound(() => (sim.emitPhoneNumberQualityUpdate(body.phoneNumberId, body), [200, { ok: true }]));
    }
    case 'POST /__sim/webhooks/account-update': {
      const body = parse<WebhookTargetRef & AccountUpdate>(raw);
      return orNotFound(() => (sim.emitAccountUpdate(body, body), [200, { ok: true }]));
    }
    case 'POST /__sim/webhooks/management': {
      const body = parse<WebhookTargetRef & { field?: string; value?: Record<string, unknown> }>(raw);
      if (!body.field || typeof body.value !== 'object' || body.value === null) return [400, { error: { message: 'field and value{} are required' } }];
      return orNotFound(() => (sim.emitManagementWebhook(body, body.field!, body.value!), [200, { ok: true }]));
    }
    case 'GET /__sim/ledger/duplicate-recipients':
      return [200, { duplicates: sim.ledger.duplicateRecipients() }];
    case 'POST /__sim/webhooks/flush':
    case 'POST /__sim/webhooks/idle': {
      const timeoutMs = Number(query.get('timeoutMs') ?? 10_000) || 10_000;
      try {
        await (path.endsWith('flush') ? sim.flushWebhooks(timeoutMs) : sim.idle(timeoutMs));
        return [200, { ok: true }];
      } catch (error) {
        return [504, { error: { message: String(error) } }];
      }
    }
  }
  const numberRoute = /^(GET|DELETE|PATCH) \/__sim\/numbers\/([^/]+)$/.exec(route);
  if (numberRoute) {
    const id = decodeURIComponent(numberRoute[2]!);
    if (numberRoute[1] === 'DELETE') return [sim.removeNumber(id) ? 200 : 404, { ok: true }];
    if (numberRoute[1] === 'PATCH') {
      const { phoneNumberId: _ignored, ...patch } = parse<Partial<NumberConfig>>(raw);
      return orNotFound(() => (sim.updateNumber(id, patch), [200, sim.getNumber(id)]));
    }
    const number = sim.getNumber(id);
    return number ? [200, number] : [404, { error: { message: `number ${id} is not registered` } }];
  }
  return [404, { error: { message: `no control route ${route}` } }];
}
