// The campaign use cases behind the HTTP API: create, add rows, start/pause/resume/cancel, read, preview.
// Everything is scoped to the calling account; a campaign of another account is "not found", never visible.
import type { CampaignState } from './campaign';
import { acceptsRows, assertTransition, nextStateForStart, STATES_ACCEPTING_ROWS } from './campaign';
import type { CampaignEngine } from './campaign-engine';
import type { Clock } from './clock';
import { isAlwaysCapped as isAlwaysCappedByMeta } from './frequency-cap';
import { normaliseRecipient } from './phone-number';
import {
  usesMarketingMessagesApi, type Account, type AccountStore, type Campaign, type CampaignStore, type Messenger,
  type MessageView, type NewMessage, type SendRequest, type StatusCounts, type SuppressionStore, type TemplateCatalog,
  type TemplateRef,
} from './ports';
import type { TemplateDefinition } from './template';
import { buildComponents, checkTemplateParams, renderTemplate, type HeaderMedia } from './template-params';
import type { SheetTarget } from '../sheets/sheet-ports';
import { AppError } from '../errors';
import { callbackDataFor, MARKETING_OFF_ON_MESSAGES_CODE } from './sender-pipeline';

export interface NewCampaignInput {
  name: string;
  template: TemplateRef;
  sendAt: number | null;
  defaultCountry: string | null;
  sheet: SheetTarget | null;
}

export interface RowInput {
  key: string;
  to: string | number;
  params: Record<string, string>;
  headerMedia: HeaderMedia | null;
}

export interface RowRejection {
  key: string | null;
  code: 'invalid_phone' | 'duplicate_recipient' | 'template_params' | 'invalid_row';
  message: string;
}

export interface AddRowsResult {
  accepted: number;
  duplicates: number;
  rejected: RowRejection[];
}

export interface CampaignView {
  campaign: Campaign;
  counts: StatusCounts;
}

export interface PreviewRow {
  key: string | null;
  to: string | null;
  ok: boolean;
  error?: { code: string; message: string };
  text: string;
  isOptedOut: boolean;
  isDuplicate: boolean;
  /** A marketing template to a number Meta always caps (131049 for every +1 number since 2025-04-01): it will fail. */
  isAlwaysCapped: boolean;
}

type ServiceStore = CampaignStore & AccountStore & SuppressionStore;

export class CampaignService {
  constructor(
    private readonly store: ServiceStore,
    private readonly templates: TemplateCatalog,
    private readonly engine: CampaignEngine,
    private readonly messenger: Messenger,
    private readonly clock: Clock,
    private readonly newId: () => string,
  ) {}

  /** Approved templates of the account, read from the Cloud API (cached). */
  async approvedTemplates(account: Account): Promise<TemplateDefinition[]> {
    const all = await this.templates.list(account, await this.secretsOf(account));
    return all.filter((t) => t.status.toUpperCase() === 'APPROVED');
  }

  async findTemplate(account: Account, ref: TemplateRef): Promise<TemplateDefinition> {
    const approved = await this.approvedTemplates(account);
    const match = approved.find((t) => t.name === ref.name && t.language === ref.language);
    if (!match) {
      const sameName = approved.filter((t) => t.name === ref.name).map((t) => t.language);
      throw new AppError('template_not_found', sameName.length > 0
        ? `Template "${ref.name}" is approved in ${sameName.join(', ')}, not in ${ref.language}.`
        : `No approved template "${ref.name}" (${ref.language}) in this WhatsApp account.`);
    }
    return match;
  }

  async createCampaign(account: Account, input: NewCampaignInput): Promise<Campaign> {
    const definition = await this.findTemplate(account, input.template);
    const campaign: Campaign = {
      id: `c_${this.newId()}`,
      accountId: account.id,
      name: input.name,
      template: input.template,
      templateDefinition: definition,
      sendAt: input.sendAt,
      defaultCountry: input.defaultCountry,
      sheet: input.sheet,
      state: 'draft',
      stateReason: null,
      createdAt: this.clock.now(),
      startedAt: null,
      finishedAt: null,
    };
    await this.store.insertCampaign(campaign);
    return campaign;
  }

  async getCampaign(account: Account, id: string): Promise<Campaign> {
    const campaign = await this.store.getCampaign(account.id, id);
    if (!campaign) throw new AppError('not_found', 'No such campaign.');
    return campaign;
  }

  async view(account: Account, id: string): Promise<CampaignView> {
    const campaign = await this.getCampaign(account, id);
    return { campaign, counts: await this.store.countByStatus(campaign.id) };
  }

  list(account: Account): Promise<Campaign[]> {
    return this.store.listCampaigns(account.id);
  }

  /**
   * Validates and stores rows in one store operation: durable before the caller hears back. A key seen before
   * counts as a duplicate (never a second message); a bad number, a number already in the campaign or parameters
   * that do not fit the template reject that row only. A campaign that ended meanwhile takes nothing.
   */
  async addRows(account: Account, campaignId: string, rows: readonly (RowInput | RowRejection)[]): Promise<AddRowsResult> {
    const campaign = await this.getCampaign(account, campaignId);
    if (!acceptsRows(campaign.state)) throw this.closedToRows(campaign.state);
    const country = campaign.defaultCountry ?? account.defaultCountry;
    // Rejections are reported in row order, whether found here or by the store.
    const checked: (RowRejection | NewMessage)[] = rows.map((row) => {
      if ('code' in row) return row;
      const phone = normaliseRecipient(row.to, country);
      if (!phone.ok) return { key: row.key, code: 'invalid_phone', message: phone.message };
      const problem = checkTemplateParams(campaign.templateDefinition, row.params, row.headerMedia ?? undefined);
      if (problem) return { key: row.key, code: 'template_params', message: problem };
      return { key: row.key, to: phone.e164, params: row.params, headerMedia: row.headerMedia };
    });
    const valid = checked.filter((row): row is NewMessage => !('code' in row));
    const inserted = valid.length === 0 ? []
      : await this.store.addMessages(campaign.id, account.id, valid, STATES_ACCEPTING_ROWS, this.clock.now());
    if (inserted === null) {
      const now = await this.getCampaign(account, campaignId);
      throw this.closedToRows(now.state);
    }
    const result: AddRowsResult = { accepted: 0, duplicates: 0, rejected: [] };
    let next = 0;
    for (const row of checked) {
      if ('code' in row) {
        result.rejected.push(row);
        continue;
      }
      const outcome = inserted[next++];
      if (outcome === 'inserted') result.accepted++;
      else if (outcome === 'duplicate_key') result.duplicates++;
      else result.rejected.push({ key: row.key, code: 'duplicate_recipient', message: `${row.to} is already in this campaign.` });
    }
    if (result.accepted > 0) await this.engine.rowsAdded(campaign.id);
    return result;
  }

  private closedToRows(state: CampaignState): AppError {
    return new AppError('campaign_state', `The campaign is ${state}; start a new campaign to send more rows.`);
  }

  async start(account: Account, id: string): Promise<CampaignState> {
    const campaign = await this.getCampaign(account, id);
    const next = nextStateForStart(campaign.state, campaign.sendAt, this.clock.now());
    return this.moveTo(campaign, next);
  }

  async pause(account: Account, id: string): Promise<CampaignState> {
    const campaign = await this.getCampaign(account, id);
    return this.moveTo(campaign, assertTransition(campaign.state, 'pause'));
  }

  /** Resumes sending; a campaign paused before its time goes back to waiting for it. */
  async resume(account: Account, id: string): Promise<CampaignState> {
    const campaign = await this.getCampaign(account, id);
    assertTransition(campaign.state, 'resume');
    const isEarly = campaign.sendAt !== null && campaign.sendAt > this.clock.now();
    return this.moveTo(campaign, isEarly ? 'scheduled' : 'running');
  }

  /** Cancels the campaign and its queued rows in one step. */
  async cancel(account: Account, id: string): Promise<CampaignState> {
    const campaign = await this.getCampaign(account, id);
    return this.moveTo(campaign, assertTransition(campaign.state, 'cancel'), true);
  }

  /** Sends the rows whose outcome was lost (`unknown`) again: only ever on the marketer's request. */
  async retryUnknown(account: Account, id: string): Promise<number> {
    const campaign = await this.getCampaign(account, id);
    const { rows, isReopened } = await this.store.requeueUnknown(
      campaign.id, { from: 'finished', to: assertTransition('finished', 'reopen') }, this.clock.now());
    if (isReopened) await this.engine.campaignChanged(campaign.id);
    else if (rows > 0) await this.engine.rowsRequeued(campaign.id);
    return rows;
  }

  async messages(account: Account, id: string, afterSeq: number, limit: number): Promise<MessageView[]> {
    const campaign = await this.getCampaign(account, id);
    return this.store.listMessagesChangedAfter(campaign.id, afterSeq, limit);
  }

  /** Normalises numbers and renders the text of each row; nothing is stored or sent. */
  async preview(
    account: Account, template: TemplateRef, defaultCountry: string | null, rows: readonly (RowInput | RowRejection)[],
  ): Promise<PreviewRow[]> {
    const definition = await this.findTemplate(account, template);
    const country = defaultCountry ?? account.defaultCountry;
    const seen = new Set<string>();
    const candidates: string[] = [];
    for (const row of rows) {
      if ('code' in row) continue;
      const phone = normaliseRecipient(row.to, country);
      if (phone.ok) candidates.push(phone.e164);
    }
    const suppressed = await this.store.suppressedAmong(account.id, candidates);
    return rows.map((row): PreviewRow => {
      if ('code' in row) {
        return { key: row.key, to: null, ok: false, error: { code: row.code, message: row.message }, text: '', isOptedOut: false, isDuplicate: false, isAlwaysCapped: false };
      }
      const rendered = renderTemplate(definition, row.params);
      const text = [rendered.header, rendered.body, rendered.footer].filter((part) => part).join('\n\n');
      const phone = normaliseRecipient(row.to, country);
      if (!phone.ok) {
        return { key: row.key, to: null, ok: false, error: { code: 'invalid_phone', message: phone.message }, text, isOptedOut: false, isDuplicate: false, isAlwaysCapped: false };
      }
      const problem = checkTemplateParams(definition, row.params, row.headerMedia ?? undefined);
      const isDuplicate = seen.has(phone.e164);
      seen.add(phone.e164);
      const isOptedOut = suppressed.has(phone.e164);
      const error = problem ? { code: 'template_params', message: problem }
        : isDuplicate ? { code: 'duplicate_recipient', message: `${phone.e164} appears more than once.` }
          : isOptedOut ? { code: 'opted_out', message: `${phone.e164} opted out; the row will be skipped.` } : undefined;
      const isAlwaysCapped = isAlwaysCappedByMeta(phone.e164, definition.category);
      return { key: row.key, to: phone.e164, ok: !error, ...(error ? { error } : {}), text, isOptedOut, isDuplicate, isAlwaysCapped };
    });
  }

  /** One message to one number (the marketer's own), outside any campaign. */
  async testSend(
    account: Account, template: TemplateRef, to: string, params: Record<string, string>, headerMedia: HeaderMedia | null,
  ): Promise<{ status: 'sent' | 'failed'; wamid?: string; error?: { code: string; message: string } }> {
    const definition = await this.findTemplate(account, template);
    const phone = normaliseRecipient(to, account.defaultCountry);
    if (!phone.ok) throw new AppError('invalid_phone', phone.message);
    const problem = checkTemplateParams(definition, params, headerMedia ?? undefined);
    if (problem) throw new AppError('template_params', problem);
    const secrets = await this.secretsOf(account);
    const request: SendRequest = {
      callbackData: callbackDataFor('test', 0), to: phone.e164, template, mayLeave: () => true,
      components: buildComponents(definition, params, headerMedia ?? undefined), isMarketing: definition.category === 'MARKETING',
    };
    const sender = {
      accountId: account.id, isSandbox: account.isSandbox, phoneNumberId: account.phoneNumberId, accessToken: secrets.accessToken,
      marketingMessagesApi: account.marketingMessagesApi,
    };
    let result = await this.messenger.send(sender, request);
    if (result.kind === 'error' && result.code === MARKETING_OFF_ON_MESSAGES_CODE && !usesMarketingMessagesApi(sender, request)) {
      // As a campaign's sender does: the WABA turned marketing off on /messages, so the account switches to the
      // Marketing Messages API (its sender is set up again with it) and the message goes there.
      await this.store.setMarketingMessagesApi(account.id, true);
      await this.engine.limitsChanged(account.id);
      result = await this.messenger.send({ ...sender, marketingMessagesApi: true }, { ...request, isMarketing: true });
    }
    switch (result.kind) {
      case 'accepted':
        return { status: 'sent', wamid: result.wamid };
      case 'error':
        return { status: 'failed', error: { code: String(result.code ?? result.httpStatus), message: result.message } };
      case 'withheld':
        // Never for a test send (it may always leave); kept so that every kind of result reads as a sentence.
        return { status: 'failed', error: { code: 'network', message: 'The message was held back before it left.' } };
      default:
        return { status: 'failed', error: { code: 'network', message: `WhatsApp did not answer: ${result.reason}` } };
    }
  }

  /** A compare-and-set from the state just read: a change made meanwhile (another instance, the engine) wins. */
  private async moveTo(campaign: Campaign, next: CampaignState, cancelQueuedRows = false): Promise<CampaignState> {
    const isMoved = await this.store.transitionCampaign({
      campaignId: campaign.id, from: [campaign.state], to: next, reason: null, nowMs: this.clock.now(), cancelQueuedRows,
    });
    if (!isMoved) {
      const now = await this.store.getCampaign(campaign.accountId, campaign.id);
      throw new AppError('campaign_state', `The campaign changed meanwhile (it is ${now?.state ?? 'gone'}); read it again.`);
    }
    await this.engine.campaignChanged(campaign.id);
    return next;
  }

  private async secretsOf(account: Account) {
    const secrets = await this.store.getAccountSecrets(account.id);
    if (!secrets) throw new AppError('not_found', 'No such account.');
    return secrets;
  }
}
