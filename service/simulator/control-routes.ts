// The simulator's own JSON control API under `/__sim/`, for tests and benchmarks driving a standalone simulator.
// Maps each route onto a public `CloudApiSimulator` method; holds no state of its own.

import type { CloudApiSimulator, NumberConfig } from './cloud-api-simulator';
import type { FaultOptions } from './fault-injector';
import type { OutcomeDelays, OutcomeOptions } from './outcome-rules';
import type { MessageTemplate } from './template-catalog';

/** `[HTTP status, JSON body]`. */
export type ControlAnswer = [number, unknown];

/** Default and maximum rows of `GET /__sim/ledger?list=1`. */
const LEDGER_PAGE = 1000;
const LEDGER_PAGE_MAX = 100_000;

function parse<T>(raw: string | undefined): T {
  if (!raw) return {} as T;
  return JSON.parse(raw) as T;
}

/**
 * Routes (all JSON):
 * - `POST /__sim/numbers` NumberConfig → 201; `DELETE /__sim/numbers/{id}`; `GET /__sim/numbers/{id}`
 * - `POST /__sim/faults` FaultOptions (replaces all) → the faults in force; `GET /__sim/faults`
 * - `POST /__sim/outcomes` `{outcomes?, delays?}` → 200
 * - `POST /__sim/templates` `{wabaId, templates}` → 200
 * - `GET /__sim/ledger` → `{size, duplicates, countsByCallbackData}`; with `?list=1&offset=&limit=` → `{size, entries}`
 * - `POST /__sim/ledger/clear`
 * - `GET /__sim/stats`, `POST /__sim/stats/reset`
 * - `POST /__sim/inbound` `{phoneNumberId, from, text, contextWamid?}` → `{wamid}`
 * - `POST /__sim/user-preferences` `{phoneNumberId, waId, value: "stop"|"resume"}`
 * - `POST /__sim/webhooks/flush`, `POST /__sim/webhooks/idle` (optional `?timeoutMs=`) → 200 once done, 504 on timeout
 * Throws on malformed JSON (answered 400 by the caller).
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
      const body = parse<{ phoneNumberId: string; from: string; text: string; contextWamid?: string }>(raw);
      const options = body.contextWamid ? { contextWamid: body.contextWamid } : {};
      return [200, { wamid: sim.emitInboundText(body.phoneNumberId, body.from, body.text, options) }];
    }
    case 'POST /__sim/user-preferences': {
      const body = parse<{ phoneNumberId: string; waId: string; value: 'stop' | 'resume' }>(raw);
      sim.emitUserPreference(body.phoneNumberId, body.waId, body.value === 'resume' ? 'resume' : 'stop');
      return [200, { ok: true }];
    }
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
  const numberRoute = /^(GET|DELETE) \/__sim\/numbers\/([^/]+)$/.exec(route);
  if (numberRoute) {
    const id = decodeURIComponent(numberRoute[2]!);
    if (numberRoute[1] === 'DELETE') return [sim.removeNumber(id) ? 200 : 404, { ok: true }];
    const number = sim.getNumber(id);
    return number ? [200, number] : [404, { error: { message: `number ${id} is not registered` } }];
  }
  return [404, { error: { message: `no control route ${route}` } }];
}
