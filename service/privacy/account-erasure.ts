// Erasing an account (right to erasure): stops its sending, then deletes the account and everything it owns.
// Suppressions go too: with the account gone no campaign can ever send under it again.
import type { Clock } from '../campaigns/clock';
import { isTerminal } from '../campaigns/campaign';
import type { CampaignEngine } from '../campaigns/campaign-engine';
import type { CampaignService } from '../campaigns/campaign-service';
import type { Account } from '../campaigns/ports';
import { AppError } from '../errors';
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
   * Called with the erased account as soon as the final delete has resolved (no other store call in between), and
   * again after the second sweep, so whatever a request in flight cached meanwhile (a webhook, a cached secret, a
   * rate-limit bucket) does not bring the account back. Must be idempotent.
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

/** Times the open campaigns are listed and cancelled before a campaign that keeps changing state fails the erasure. */
const MAX_CANCEL_ROUNDS = 5;

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
   * steps and finally the account with everything left in one store operation, and flushes the write-ahead log;
   * sweeps once more after `settleMs` and compacts the files (with SQLite this blocks, about 2 s per million
   * messages in the database). Idempotent in effect: a crash part-way leaves an account that a second call
   * finishes erasing.
   */
  async erase(account: Account): Promise<AccountErasureResult> {
    const { store, engine } = this.deps;
    const cancelledCampaigns = await this.cancelOpenCampaigns(account);
    // The account's sender finishes the sends already handed to the Cloud API and records their outcomes.
    await engine.forgetAccount(account.id);

    let messages = 0;
    for (;;) {
      const deleted = await store.deleteAccountMessages(account.id, this.batchRows);
      messages += deleted;
      if (deleted < this.batchRows) break;
      await this.yieldTurn();
    }
    const counts = await store.deleteAccount(account.id);
    this.forget(account);
    await store.flushDeleted();

    await this.wait(this.settleMs);
    const late = await store.deleteAccount(account.id);
    this.forget(account);
    await this.deps.compactor.compactNow();
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

  /**
   * Cancels every campaign of the account that is not over; returns how many it cancelled. The list is read before
   * the cancels, so a campaign may change state in between (the engine finishes it, a request pauses or resumes it):
   * cancel is a compare-and-set from the state it reads and refuses with `campaign_state` then. The list is read
   * again and whatever is still open is cancelled; a campaign that ended meanwhile is left as it is.
   */
  private async cancelOpenCampaigns(account: Account): Promise<number> {
    const { campaigns } = this.deps;
    let cancelled = 0;
    for (let round = 1; ; round++) {
      let isRaced = false;
      for (const campaign of await campaigns.list(account)) {
        if (isTerminal(campaign.state)) continue;
        try {
          await campaigns.cancel(account, campaign.id);
          cancelled++;
        } catch (error) {
          if (!(error instanceof AppError && error.code === 'campaign_state') || round >= MAX_CANCEL_ROUNDS) throw error;
          isRaced = true;
        }
      }
      if (!isRaced) return cancelled;
    }
  }

  private forget(account: Account): void {
    for (const forget of this.deps.forget) forget(account);
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
