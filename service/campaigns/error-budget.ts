// A campaign whose recent sends mostly fail pauses itself (listmonk's MaxSendErrors, but over a moving window),
// so a broken mapping or a bad list does not burn through a whole sheet.

export interface ErrorBudgetOptions {
  /** How many recent outcomes are looked at. */
  windowSize: number;
  /** No verdict before this many outcomes. */
  minSamples: number;
  /** Pause when the failed share of the window reaches this (0..1). */
  maxFailureRatio: number;
}

export const DEFAULT_ERROR_BUDGET: ErrorBudgetOptions = { windowSize: 50, minSamples: 20, maxFailureRatio: 0.5 };

export class ErrorBudget {
  private readonly outcomes: boolean[] = [];
  private failures = 0;

  constructor(private readonly options: ErrorBudgetOptions = DEFAULT_ERROR_BUDGET) {}

  /** Records one send's outcome; returns true when the budget is spent and the campaign should pause. */
  record(isFailure: boolean): boolean {
    this.outcomes.push(isFailure);
    if (isFailure) this.failures++;
    if (this.outcomes.length > this.options.windowSize) {
      if (this.outcomes.shift()) this.failures--;
    }
    return this.outcomes.length >= this.options.minSamples
      && this.failures / this.outcomes.length >= this.options.maxFailureRatio;
  }

  /**
   * A send counted as accepted failed later (Meta's `failed` status webhook): the newest success in the window
   * becomes a failure, so one message is still one outcome. Returns true when the budget is spent.
   */
  recordLateFailure(): boolean {
    const index = this.outcomes.lastIndexOf(false);
    if (index < 0) return this.record(true);
    this.outcomes[index] = true;
    this.failures++;
    return this.outcomes.length >= this.options.minSamples
      && this.failures / this.outcomes.length >= this.options.maxFailureRatio;
  }

  /** Forgets the past, e.g. when the marketer resumes a paused campaign after fixing it. */
  reset(): void {
    this.outcomes.length = 0;
    this.failures = 0;
  }
}
