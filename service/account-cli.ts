// `npm run account -- create ...`: makes accounts from the command line (API.md). Prints one JSON line on stdout;
// the API key appears there once and only its hash is stored.
import { parseArgs } from 'node:util';
import { SystemClock } from './adapters/system/system-clock';
import { assertRetentionDays } from './accounts/account-registry';
import { loadConfig } from './config';
import { isAppError } from './errors';
import { accountFactory, openStore } from './service-runtime';

const USAGE = `Usage:
  npm run account -- create --name "Acme" --sandbox
  npm run account -- create --name "Acme" --phone-number-id ID --waba-id ID --access-token TOKEN \\
      --app-secret SECRET --verify-token TOKEN [--mps 80] [--daily-limit 250|unlimited] [--default-country IN]
      [--retention-days 30]
  npm run account -- set-retention --account ID --retention-days N
  npm run account -- list`;

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  const config = loadConfig();
  if (command === 'list') {
    const store = await openStore(config);
    for (const a of await store.listAccounts()) {
      console.log(JSON.stringify({
        accountId: a.id, name: a.name, sandbox: a.isSandbox, phoneNumberId: a.phoneNumberId, retentionDays: a.retentionDays,
      }));
    }
    await store.close();
    return;
  }
  if (command === 'set-retention') {
    await setRetention(config, rest);
    return;
  }
  if (command !== 'create') fail(USAGE);
  const { values } = parseArgs({
    args: rest,
    options: {
      name: { type: 'string' },
      sandbox: { type: 'boolean', default: false },
      'phone-number-id': { type: 'string' },
      'waba-id': { type: 'string' },
      'access-token': { type: 'string' },
      'app-secret': { type: 'string' },
      'verify-token': { type: 'string' },
      mps: { type: 'string' },
      'daily-limit': { type: 'string' },
      'default-country': { type: 'string' },
      'retention-days': { type: 'string' },
    },
    strict: true,
  });
  if (!values.name) fail(`--name is required.\n${USAGE}`);
  const dailyLimit = values['daily-limit'] === undefined ? undefined
    : values['daily-limit'] === 'unlimited' ? null : Number(values['daily-limit']);
  const store = await openStore(config);
  try {
    const { account, apiKey } = await accountFactory(store, new SystemClock())({
      name: values.name,
      isSandbox: values.sandbox ?? false,
      phoneNumberId: values['phone-number-id'],
      wabaId: values['waba-id'],
      accessToken: values['access-token'],
      appSecret: values['app-secret'],
      verifyToken: values['verify-token'],
      messagesPerSecond: values.mps === undefined ? undefined : Number(values.mps),
      dailyLimit,
      defaultCountry: values['default-country'] ?? null,
      retentionDays: values['retention-days'] === undefined ? undefined : Number(values['retention-days']),
    });
    console.log(JSON.stringify({ accountId: account.id, apiKey, webhookUrl: `${config.publicUrl}/webhooks/whatsapp/${account.id}` }));
  } catch (error) {
    if (isAppError(error)) fail(error.message);
    // SQLite: "UNIQUE constraint failed: accounts.phone_number_id"; PostgreSQL: "… constraint accounts_phone_number_id_key".
    if (/phone_number_id/.test(String(error))) {
      fail('An account already uses this phone number id.');
    }
    throw error;
  } finally {
    await store.close();
  }
}

/** Changes how long an existing account keeps message content; the next retention pass applies it. */
async function setRetention(config: ReturnType<typeof loadConfig>, args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { account: { type: 'string' }, 'retention-days': { type: 'string' } },
    strict: true,
  });
  if (!values.account || values['retention-days'] === undefined) fail(`--account and --retention-days are required.\n${USAGE}`);
  const days = Number(values['retention-days']);
  try {
    assertRetentionDays(days);
  } catch (error) {
    if (isAppError(error)) fail(error.message);
    throw error;
  }
  const store = await openStore(config);
  try {
    if (!(await store.setRetentionDays(values.account, days))) fail(`No account ${values.account}.`);
    console.log(JSON.stringify({ accountId: values.account, retentionDays: days }));
  } finally {
    await store.close();
  }
}

void main();
