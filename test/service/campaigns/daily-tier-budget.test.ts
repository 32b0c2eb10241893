// DailyTierBudget: unique people per moving 24 h, and what a send that did not happen gives back.
import { describe, expect, it } from 'vitest';
import { DAY_MS, DailyTierBudget } from '../../../service/campaigns/daily-tier-budget';

describe('DailyTierBudget', () => {
  it('counts a person once however many sends they get, and frees the place 24 h after their first', () => {
    const budget = new DailyTierBudget(2);
    budget.record('+1', 0);
    budget.record('+1', 1000);
    budget.record('+2', 2000);
    expect(budget.allows('+1', 3000)).toBe(true);
    expect(budget.allows('+3', 3000)).toBe(false);
    expect(budget.nextFreeAtMs(3000)).toBe(DAY_MS);
    expect(budget.allows('+3', DAY_MS)).toBe(true);
  });

  it('gives the place back when the only send to the person did not happen', () => {
    const budget = new DailyTierBudget(1);
    budget.record('+1', 10);
    budget.release('+1', 10);
    expect(budget.used(20)).toBe(0);
    expect(budget.allows('+2', 20)).toBe(true);
  });

  it("keeps counting a person whose first send failed after a second campaign's send to them left", () => {
    const budget = new DailyTierBudget(1);
    budget.record('+1', 0); // campaign A's send, its answer slow
    budget.record('+1', 6000); // campaign B's send to the same person leaves meanwhile
    budget.release('+1', 0); // A's comes back refused
    expect(budget.used(7000)).toBe(1);
    expect(budget.allows('+2', 7000)).toBe(false);
    budget.release('+1', 6000); // B's was refused too: nobody got a message
    expect(budget.allows('+2', 7000)).toBe(true);
  });

  it('never gives back a count restored from sends made before a restart, nor one of an older window', () => {
    const budget = new DailyTierBudget(1);
    budget.restore([{ to: '+1', atMs: 100 }]);
    budget.record('+1', 200);
    budget.release('+1', 200);
    expect(budget.used(300)).toBe(1);
    // A release for a use recorded before this count began (the person's previous window) changes nothing.
    budget.release('+1', 50);
    expect(budget.used(300)).toBe(1);
  });
});
