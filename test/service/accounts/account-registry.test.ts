// Account creation's checks on the retention period (issue 5): 30 days unless asked, whole days from 1 to 3650.
import { describe, expect, it } from 'vitest';
import { assertRetentionDays, createAccount, type AccountFactoryDeps } from '../../../service/accounts/account-registry';

const deps = (): AccountFactoryDeps & { inserted: unknown[] } => {
  const inserted: unknown[] = [];
  return {
    inserted,
    insert: async (row) => {
      inserted.push(row);
    },
    generateApiKey: () => 'wsk_test',
    hashApiKey: (key) => `hash:${key}`,
    randomToken: () => 'token',
    randomDigits: (n) => '1'.repeat(n),
    newId: () => 'a_1',
    now: () => 0,
  };
};

describe('createAccount retention', () => {
  it('keeps message content 30 days unless told otherwise', async () => {
    expect((await createAccount(deps(), { name: 'A', isSandbox: true })).account.retentionDays).toBe(30);
    expect((await createAccount(deps(), { name: 'A', isSandbox: true, retentionDays: 7 })).account.retentionDays).toBe(7);
  });

  it('refuses a retention that is not a whole number of days from 1 to 3650, storing nothing', async () => {
    for (const days of [0, -1, 1.5, Number.NaN, 3651]) {
      const d = deps();
      await expect(createAccount(d, { name: 'A', isSandbox: true, retentionDays: days })).rejects.toThrow(/Retention/);
      expect(d.inserted).toEqual([]);
      expect(() => assertRetentionDays(days)).toThrow(expect.objectContaining({ code: 'bad_request' }));
    }
    expect(() => assertRetentionDays(3650)).not.toThrow();
  });
});
