// Erasing an account (right to erasure): stops its sending, then deletes the account and everything it owns.
// Suppressions go too: with the account gone no campaign can ever send under it again.
import type { Clock } from '../campaigns/clock';
import { isTerminal } from '../campaigns/campaign';
import type { CampaignEngine } from '../campaigns/campaign-engine';
import type { CampaignService } from '../campaigns/campaign-service';
import type { Account } from '../campaigns/ports';
import type { Compactor } from './compactor';
import type { AccountErasureCounts, ErasureStore } from './privacy-ports';

export interface AccountErasureDeps {
  store: ErasureStore;
  campaigns: Pick<CampaignService, 'list' | 'cancel'>;
  engine: Pick<CampaignEngine, 'forgetAccount'>;
  /** Rebuilds the files at the end, so no stale copy of the account's rows survives in page slack. */
  compactor: Pick<Compactor, 'compactNow'>;
  clock: Clock;
  /**
   * Called with the erased account, in the same turn of the event loop as the final delete, so nothing (a webhook,
   * a cached secret, a rate-limit bucket) can bring the account back between the two.
   */
  forget: ReadonlyArray<(account: Account) => void>;
  /** Messages deleted per step before the final transaction; the event loop runs between steps. */
  batchRows?: number;
  /**
   * How long after the final delete a second sweep runs: a write that was already on its way when the account went
   * (a webhook body accepted a moment before and committed a moment after) is caught by it. Default 100 ms.
   */
  settleMs?: number;
}

export interface AccountErasureResult extends AccountErasureCounts {
  /** Campaigns that were still open and were cancelled first. */
  cancelledCampaigns: number;
}

export class AccountErasure {
  private readonly batchRows: number;
  private readonly settleMs: number;

  constructor(private readonly deps: AccountErasureDeps) {
    this.batchRows = deps.batchRows ?? 5000;
    this.settleMs = deps.settleMs ?? 100;
  }

  /**
   * Cancels the account's open campaigns and waits for sends in flight to settle, then deletes its messages in
   * steps and finally the account with everything left in one transaction, and flushes the write-ahead log; sweeps
   * once more after `settleMs` and compacts the files (this blocks, about 2 s per million messages in the database).
   * Idempotent in effect: a crash part-way leaves an account that a second call finishes erasing.
   */
  async erase(account: Account): Promise<AccountErasureResult> {
    const { store, campaigns, engine } = this.deps;
    let cancelledCampaigns = 0;
    for (const campaign of campaigns.list(account)) {
      if (isTerminal(campaign.state)) continue;
      campaigns.cancel(account, campaign.id);
      cancelledCampaigns++;
    }
    // The account's sender finishes the sends already handed to the Cloud API and records their outcomes.
    await engine.forgetAccount(account.id);

    let messages = 0;
    for (;;) {
      const deleted = store.deleteAccountMessages(account.id, this.batchRows);
      messages += deleted;
      if (deleted < this.batchRows) break;
      await this.yieldTurn();
    }
    const counts = store.deleteAccount(account.id);
    for (const forget of this.deps.forget) forget(account);
    store.flushDeleted();

    await this.wait(this.settleMs);
    const late = store.deleteAccount(account.id);
    this.deps.compactor.compactNow();
    // A campaign started while the messages were being deleted may have brought a sender back; it has nothing left.
    await engine.forgetAccount(account.id);
    return {
      campaigns: counts.campaigns + late.campaigns,
      messages: messages + counts.messages + late.messages,
      suppressions: counts.suppressions + late.suppressions,
      webhooks: counts.webhooks + late.webhooks,
      cancelledCampaigns,
    };
  }

  private yieldTurn(): Promise<void> {
    return this.wait(0);
  }

  private wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.deps.clock.setTimer(ms, resolve);
    });
  }
}
