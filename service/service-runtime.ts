// Wires config → adapters → domain → HTTP into one running service. main.ts runs it as a process; tests run it in
// process. The only file besides account-cli.ts that knows which adapters are in use.
import { randomBytes, randomInt } from 'node:crypto';
import { hostname } from 'node:os';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createAccount, type NewAccountInput } from './accounts/account-registry';
import { generateApiKey, hashApiKey, randomToken } from './adapters/crypto/api-keys';
import { SecretBox } from './adapters/crypto/secret-box';
import { createSheetWriterFromCredentials } from './adapters/google-sheets/service-account';
import { PostgresStore } from './adapters/postgres/postgres-store';
import { SqliteStore } from './adapters/sqlite/sqlite-store';
import { acquireProcessLock, ensureDataDir, loadOrCreateSecretKey } from './adapters/system/data-dir';
import { createLogger } from './adapters/system/pino-logger';
import { SystemClock } from './adapters/system/system-clock';
import { CloudApiMessenger } from './adapters/whatsapp-cloud/cloud-api-messenger';
import { CloudTemplateCatalog } from './adapters/whatsapp-cloud/cloud-template-catalog';
import { GraphEndpoint } from './adapters/whatsapp-cloud/graph-endpoint';
import { CampaignEngine } from './campaigns/campaign-engine';
import { CampaignService } from './campaigns/campaign-service';
import type { Clock } from './campaigns/clock';
import type { Account, Logger } from './campaigns/ports';
import type { Config } from './config';
import type { ServiceStore } from './service-store';
import { createApp } from './http/app';
import { privacyRoutes } from './http/privacy-routes';
import { AccountRateLimiter } from './http/rate-limit';
import { optOutWordRoutes } from './http/opt-out-word-routes';
import { suppressionRoutes } from './http/suppression-routes';
import { AccountErasure } from './privacy/account-erasure';
import { Compactor } from './privacy/compactor';
import { ContactErasure } from './privacy/contact-erasure';
import { DAY_MS, DEFAULT_RETENTION_OPTIONS, RetentionJob } from './privacy/retention-job';
import { SheetSync } from './sheets/sheet-sync';
import { CloudApiSimulator, type NumberConfig } from './simulator/cloud-api-simulator';
import { AccountHealthKeeper } from './webhooks/account-health';
import { DEFAULT_FREQUENCY_CAP_POLICY } from './campaigns/frequency-cap';
import { WebhookProcessor } from './webhooks/webhook-processor';

export interface ServiceRuntimeOptions {
  clock?: Clock;
  logger?: Logger;
  /** Skip the one-process-per-data-directory lock (tests that open several runtimes on temp dirs). */
  isLockFree?: boolean;
}

export interface ServiceRuntime {
  readonly url: string;
  readonly store: ServiceStore;
  readonly server: Server;
  readonly sandboxSimulator: CloudApiSimulator;
  /** Message-content retention; tests run a pass with `runOnce`. */
  readonly retention: RetentionJob;
  createAccount(input: NewAccountInput): Promise<{ account: Account; apiKey: string; webhookUrl: string }>;
  webhookUrlFor(accountId: string): string;
  stop(): Promise<void>;
}

export function newId(): string {
  return randomBytes(9).toString('base64url').replace(/[-_]/g, 'x');
}

export function randomDigits(count: number): string {
  let digits = '';
  for (let i = 0; i < count; i++) digits += String(randomInt(10));
  return digits;
}

/**
 * Opens PostgreSQL when DATABASE_URL is set, else SQLite in DATA_DIR; secrets are sealed under SECRET_KEY (generated
 * into DATA_DIR on first start when unset: several instances must all be given the same SECRET_KEY).
 */
export async function openStore(config: Config, logger?: Logger): Promise<ServiceStore> {
  ensureDataDir(config.DATA_DIR);
  const secretKey = loadOrCreateSecretKey(config.DATA_DIR, config.SECRET_KEY, SecretBox.generateKey);
  if (config.DATABASE_URL) {
    return PostgresStore.open(config.DATABASE_URL, new SecretBox(secretKey), { poolSize: config.DATABASE_POOL_SIZE, logger });
  }
  return new SqliteStore(join(config.DATA_DIR, 'campaigns.db'), new SecretBox(secretKey), Date.now, {
    // The disk failed an fsync of the WAL: nothing written since is known durable, and going on could act on writes
    // a power cut undoes. Stop; the next start recovers from what is on disk (rows in flight end `unknown`).
    onFailure: (error) => {
      if (logger) logger.error({ error: error.message }, 'stopping: the database could not be synced to disk');
      else console.error(`stopping: ${error.message}`);
      process.exit(74); // EX_IOERR
    },
  });
}

/** This process's name in leases: unique across instances and restarts. */
function instanceId(): string {
  return `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
}

export function accountFactory(store: ServiceStore, clock: Clock) {
  return (input: NewAccountInput) => createAccount({
    insert: (row) => store.insertAccount(row),
    generateApiKey, hashApiKey, randomToken: () => randomToken(), randomDigits,
    newId: () => `a_${newId()}`,
    now: () => clock.now(),
  }, input);
}

export async function startService(config: Config, options: ServiceRuntimeOptions = {}): Promise<ServiceRuntime> {
  const clock = options.clock ?? new SystemClock();
  const logger = options.logger ?? createLogger(config.LOG_LEVEL);
  ensureDataDir(config.DATA_DIR);
  // SQLite: one process per data directory. PostgreSQL: any number of instances; leases decide who sends.
  const releaseLock = options.isLockFree || config.DATABASE_URL ? () => {} : acquireProcessLock(config.DATA_DIR);
  let store: ServiceStore;
  try {
    store = await openStore(config, logger);
  } catch (error) {
    releaseLock();
    throw error;
  }

  let internalUrl = `http://127.0.0.1:${config.PORT}`;
  const sandboxNumberOf = async (account: Account | null): Promise<NumberConfig | undefined> => {
    const secrets = account?.isSandbox ? await store.getAccountSecrets(account.id) : null;
    if (!account || !secrets) return undefined;
    return {
      phoneNumberId: account.phoneNumberId, wabaId: account.wabaId, accessToken: secrets.accessToken, appSecret: secrets.appSecret,
      webhookUrl: `${internalUrl}/webhooks/whatsapp/${account.id}`, messagesPerSecond: account.messagesPerSecond,
    };
  };
  const webhookUrlFor = (accountId: string): string => `${config.publicUrl}/webhooks/whatsapp/${accountId}`;
  const endpoint = new GraphEndpoint(config.GRAPH_API_URL, config.GRAPH_API_VERSION, `${internalUrl}/sandbox/graph`);
  const messenger = new CloudApiMessenger({ endpoint, timeoutMs: config.SEND_TIMEOUT_MS });
  const templates = new CloudTemplateCatalog(endpoint, () => clock.now());
  const engineOptions = {
    reconcileAfterMs: config.RECONCILE_AFTER_MS,
    instanceId: instanceId(),
    leaseTtlMs: config.LEASE_TTL_MS,
    leaseRenewMs: Math.max(1000, Math.floor(config.LEASE_TTL_MS / 5)),
    // A successor starts only after expiry: stopping this long before it leaves the Cloud API a quiet second or more.
    leaseLaunchMarginMs: Math.max(1500, Math.floor(config.LEASE_TTL_MS / 5)),
  };
  const engine = new CampaignEngine(store, messenger, clock, logger, engineOptions);
  const campaigns = new CampaignService(store, templates, engine, messenger, clock, newId);
  const webhooks = new WebhookProcessor(store, engine, clock, logger,
    { ...DEFAULT_FREQUENCY_CAP_POLICY, maxRetries: config.FREQUENCY_CAP_RETRIES });
  // Meta's management webhooks: template status pauses campaigns, the tier moves the daily limit, and so on.
  webhooks.useHealthKeeper(new AccountHealthKeeper(store.health, {
    getAccount: (id) => store.getAccount(id),
    listCampaigns: (id) => store.listCampaigns(id),
    pauseCampaign: (id, reason) => engine.pause(id, reason),
    limitsChanged: (id) => engine.limitsChanged(id),
    templatesChanged: (id) => templates.invalidate(id),
    recategoriseTemplate: (id, template, category) => store.recategoriseTemplate(id, template, category),
  }, logger));

  // Sandbox accounts send to this simulator, which posts signed webhooks back to this very service over HTTP.
  const sandboxSimulator = new CloudApiSimulator({
    basePath: '/sandbox/graph',
    exposeControlRoutes: false,
    // As Meta since 2025-04-01: every marketing template to a US (+1) number fails 131049 (CLOUD_API.md §13).
    usMarketingBlocked: true,
    resolveUnknownNumber: async (phoneNumberId) => sandboxNumberOf(await store.findAccountByPhoneNumberId(phoneNumberId)),
    resolveUnknownWaba: async (wabaId) => sandboxNumberOf(await store.findSandboxAccountByWabaId(wabaId)),
  });

  const sheetWriter = createSheetWriterFromCredentials(config.GOOGLE_APPLICATION_CREDENTIALS,
    config.SHEETS_API_URL ? { rootUrl: config.SHEETS_API_URL } : {});
  const sheetSync = sheetWriter
    ? new SheetSync({
      store, writer: sheetWriter, clock, onError: (error) => logger.error({ error: String(error) }, 'sheet write-back'),
      isLeader: () => store.acquireJobLease('sheet-write-back', engineOptions.instanceId, 30_000),
    })
    : null;

  const privacy = store.privacy;
  const compactor = new Compactor(privacy, clock, { afterPurgeEveryMs: DAY_MS });
  const retention = new RetentionJob(privacy, clock, logger, compactor, {
    isLeader: () => store.acquireJobLease('retention', engineOptions.instanceId, DEFAULT_RETENTION_OPTIONS.intervalMs / 2),
  });
  const rateLimiter = new AccountRateLimiter(
    { ratePerSecond: config.RATE_LIMIT_PER_SECOND, burst: config.RATE_LIMIT_BURST }, () => clock.now());
  const accountErasure = new AccountErasure({
    store: privacy, campaigns, engine, compactor, clock,
    forget: [
      (account) => webhooks.forget(account.id),
      (account) => templates.invalidate(account.id),
      (account) => rateLimiter.forget(account.id),
      (account) => account.isSandbox && sandboxSimulator.removeNumber(account.phoneNumberId),
    ],
  });

  const app = createApp({
    store, campaigns, webhooks, logger, hashApiKey, webhookUrlFor, health: store.health,
    serviceAccountEmail: sheetWriter?.serviceAccountEmail ?? null,
    sandboxHandler: (req, res) => sandboxSimulator.handle(req, res),
    extraRoutes: [
      suppressionRoutes(store, () => clock.now()),
      optOutWordRoutes(store),
      privacyRoutes({ exports: privacy, accountErasure, contactErasure: new ContactErasure(privacy, compactor), now: () => clock.now(), logger }),
    ],
    rateLimit: rateLimiter.middleware(),
    // The sender held here is set up again with the new setting (as for new limits).
    accountChanged: (id) => engine.limitsChanged(id),
    now: () => clock.now(),
  });
  const server = createServer(app);
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.PORT, '0.0.0.0', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  internalUrl = `http://127.0.0.1:${port}`;
  endpoint.setSandboxUrl(`${internalUrl}/sandbox/graph`);

  engine.start();
  webhooks.start();
  sheetSync?.start();
  retention.start();
  const makeAccount = accountFactory(store, clock);

  return {
    url: internalUrl,
    store,
    server,
    sandboxSimulator,
    retention,
    webhookUrlFor,
    async createAccount(input) {
      const created = await makeAccount(input);
      return { ...created, webhookUrl: webhookUrlFor(created.account.id) };
    },
    async stop() {
      await sheetSync?.stop();
      await retention.stop();
      await engine.stop();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      await sandboxSimulator.close();
      await messenger.close();
      await webhooks.stop();
      // Whatever still waits for a group commit (a webhook body accepted while the server closed) is written now.
      await engine.commits.commit();
      await webhooks.drainOnce();
      await store.close();
      releaseLock();
    },
  };
}
