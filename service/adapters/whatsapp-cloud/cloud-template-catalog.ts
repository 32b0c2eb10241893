// Reads an account's message templates from the Cloud API (GET /{waba}/message_templates, following paging.next)
// and keeps them for a few minutes: template reads have their own hourly limit (CLOUD_API.md 2).
import { request } from 'undici';
import { AppError } from '../../errors';
import type { Account, AccountSecrets, TemplateCatalog } from '../../campaigns/ports';
import type { TemplateDefinition } from '../../campaigns/template';
import type { GraphEndpoint } from './graph-endpoint';
import { parseMetaTemplate } from './meta-template-parser';

const MAX_PAGES = 100;

export class CloudTemplateCatalog implements TemplateCatalog {
  private readonly cache = new Map<string, { atMs: number; templates: TemplateDefinition[] }>();

  constructor(
    private readonly endpoint: GraphEndpoint,
    private readonly now: () => number,
    private readonly ttlMs = 5 * 60 * 1000,
  ) {}

  async list(account: Account, secrets: AccountSecrets): Promise<TemplateDefinition[]> {
    const cached = this.cache.get(account.id);
    if (cached && this.now() - cached.atMs < this.ttlMs) return cached.templates;
    const templates: TemplateDefinition[] = [];
    let url: string | null = `${this.endpoint.baseFor(account.isSandbox)}/${encodeURIComponent(account.wabaId)}/message_templates`
      + '?limit=100&fields=name,language,status,category,parameter_format,components';
    for (let page = 0; url && page < MAX_PAGES; page++) {
      const body = await this.getJson(url, secrets.accessToken);
      for (const item of body.data ?? []) {
        const parsed = parseMetaTemplate(item);
        if (parsed) templates.push(parsed);
      }
      url = typeof body.paging?.next === 'string' ? body.paging.next : null;
    }
    this.cache.set(account.id, { atMs: this.now(), templates });
    return templates;
  }

  /** Forgets an account's templates (its token changed, or the marketer asked for a refresh). */
  invalidate(accountId: string): void {
    this.cache.delete(accountId);
  }

  private async getJson(url: string, token: string): Promise<{ data?: unknown[]; paging?: { next?: unknown } }> {
    let statusCode: number;
    let text: string;
    try {
      const response = await request(url, {
        headers: { authorization: `Bearer ${token}` }, headersTimeout: 15_000, bodyTimeout: 15_000,
      });
      statusCode = response.statusCode;
      text = await response.body.text();
    } catch (error) {
      throw new AppError('upstream_unavailable', 'WhatsApp could not be reached to read the templates. Try again shortly.', { cause: error });
    }
    let json: { data?: unknown[]; paging?: { next?: unknown }; error?: { code?: number; message?: string } };
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw new AppError('upstream_unavailable', `WhatsApp answered the template list with HTTP ${statusCode} and no JSON.`, { cause: error });
    }
    if (statusCode >= 400 || json.error) {
      const code = json.error?.code;
      if (code === 190 || code === 0 || statusCode === 401) {
        throw new AppError('upstream_rejected', 'WhatsApp refused the access token while reading templates: add a new token.');
      }
      throw new AppError('upstream_unavailable', `WhatsApp refused to list templates (code ${code ?? statusCode}).`);
    }
    return json;
  }
}
