// The store contract on PostgresStore, each test on a fresh scratch database of the run's PostgreSQL server
// (test/support/postgres-url.ts). Leases and webhook claims run on the database's clock: the tests wait in real time.
// Skipped, saying why, when the run has no PostgreSQL or service/adapters/postgres/postgres-store.ts is not there yet
// (it is imported dynamically, so this file compiles without it).
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, it } from 'vitest';
import type { SecretCipher, ServiceStore } from '../../../service/service-store';
import { hasPostgres, scratchDatabase } from '../../support/postgres-url';
import { describeStoreContract, plainCipher } from './store-contract';

interface PostgresStoreModule {
  PostgresStore: { open(url: string, cipher: SecretCipher, options?: unknown): Promise<ServiceStore> };
}

const storeFile = fileURLToPath(new URL('../../../service/adapters/postgres/postgres-store.ts', import.meta.url));
const skipReason = !hasPostgres
  ? 'PostgreSQL is not installed (no initdb; apt-get install -y postgresql)'
  : !existsSync(storeFile)
    ? 'service/adapters/postgres/postgres-store.ts does not exist yet'
    : null;

if (skipReason !== null) {
  describe('store contract: PostgreSQL', () => {
    it.skip(`skipped: ${skipReason}`, () => {});
  });
} else {
  let databases = 0;
  describeStoreContract('PostgreSQL', async () => {
    const { PostgresStore } = (await import(/* @vite-ignore */ pathToFileURL(storeFile).href)) as PostgresStoreModule;
    const url = await scratchDatabase(`store_contract_${process.pid}_${++databases}`);
    const store = await PostgresStore.open(url, plainCipher);
    return {
      store,
      async close() {
        await store.close();
      },
    };
  });
}
