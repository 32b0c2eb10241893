// The store contract on SqliteStore, on a temporary database file (the export reads it on a second connection, so
// not `:memory:`). The store's clock (leases, webhook claims) is real time plus what the test has advanced it by.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../../../service/adapters/sqlite/sqlite-store';
import { describeStoreContract, plainCipher } from './store-contract';

describeStoreContract('SQLite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'store-contract-'));
  let offsetMs = 0;
  const store = new SqliteStore(join(dir, 'campaigns.db'), plainCipher, () => Date.now() + offsetMs);
  return {
    store,
    clock: {
      async advance(ms: number) {
        offsetMs += ms;
      },
    },
    async close() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
