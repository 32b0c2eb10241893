// The Express app factory: routes and middleware wired to ports passed in. No listen here, so tests call it directly.
import express, { type Express, type RequestHandler, Router } from 'express';
import helmet from 'helmet';
import { z } from 'zod';
import type { CampaignService } from '../campaigns/campaign-service';
import type { Account, AccountStore, Logger } from '../campaigns/ports';
import type { HealthStore } from '../webhooks/account-health';
import type { WebhookProcessor } from '../webhooks/webhook-processor';
import { AppError } from '../errors';
import { accountOf, requireApiKey } from './auth';
import { campaignRoutes } from './campaign-routes';
import { parseOrThrow } from './contract';
import { errorMapper } from './error-mapper';
import { EMPTY_HEALTH, healthAsOf } from '../webhooks/account-health';
import { presentAccount } from './presenters';
import { webhookRoutes } from './webhook-routes';

/** 5,000 rows of a wide sheet fit comfortably; anything larger is refused with 413 before it is parsed. */
export const API_BODY_LIMIT = '16mb';

export interface AppDeps {
  store: AccountStore;
  campaigns: CampaignService;
  webhooks: WebhookProcessor;
  logger: Logger;
  hashApiKey(key: string): string;
  webhookUrlFor(accountId: string): string;
  serviceAccountEmail: string | null;
  /** The account's health for `GET /v1/account`; without it `health` is all nulls. */
  health?: Pick<HealthStore, 'getHealth'>;
  /** The in-process Cloud API simulator for sandbox accounts, mounted at /sandbox/graph. */
  sandboxHandler?: RequestHandler;
  /** Extra authenticated /v1 routes (suppressions, export, erasure). */
  extraRoutes?: Router[];
  /** Per-account request limit, run after auth and before the body is parsed. */
  rateLimit?: RequestHandler;
  /** A setting of the account changed (`PATCH /v1/account`): its sender picks it up (the engine sets it up again). */
  accountChanged?(accountId: string): Promise<void>;
  /** The service's clock: a restriction whose expiry has passed no longer shows in `health`. */
  now(): number;
}

/** `PATCH /v1/account`: the account settings the marketer may change; at least one. */
const accountPatchBody = z.object({ marketingMessagesApi: z.boolean().optional() }).strict()
  .refine((body) => body.marketingMessagesApi !== undefined, 'name a setting to change (marketingMessagesApi)');

export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  app.use(helmet());

  app.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });
  if (deps.sandboxHandler) app.use('/sandbox/graph', deps.sandboxHandler);
  app.use('/webhooks', webhookRoutes(deps.webhooks));

  const v1 = Router();
  v1.use(requireApiKey(deps.store, deps.hashApiKey));
  if (deps.rateLimit) v1.use(deps.rateLimit);
  v1.use(express.json({ limit: API_BODY_LIMIT, type: () => true }));
  /** The account as GET and PATCH /v1/account answer it: with its health as of now. */
  const accountResponse = async (account: Account) => {
    const health = deps.health ? healthAsOf(await deps.health.getHealth(account.id), deps.now()) : EMPTY_HEALTH;
    return presentAccount(account, deps.webhookUrlFor(account.id), deps.serviceAccountEmail, health);
  };
  v1.get('/account', async (req, res) => {
    res.json(await accountResponse(accountOf(req)));
  });
  v1.patch('/account', async (req, res) => {
    const { marketingMessagesApi } = parseOrThrow(accountPatchBody, req.body);
    const { id } = accountOf(req);
    // The body's only field, required by accountPatchBody.
    if (!(await deps.store.setMarketingMessagesApi(id, marketingMessagesApi as boolean))) throw new AppError('not_found', 'No such account.');
    await deps.accountChanged?.(id);
    const account = await deps.store.getAccount(id);
    if (!account) throw new AppError('not_found', 'No such account.');
    res.json(await accountResponse(account));
  });
  v1.use(campaignRoutes(deps.campaigns));
  for (const router of deps.extraRoutes ?? []) v1.use(router);
  v1.use(() => {
    throw new AppError('not_found', 'No such route.');
  });
  app.use('/v1', v1);

  app.use(() => {
    throw new AppError('not_found', 'No such route.');
  });
  app.use(errorMapper(deps.logger));
  return app;
}
