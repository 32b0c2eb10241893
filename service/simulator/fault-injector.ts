// Decides, per send, which injected fault applies: a Meta 5xx, a slow answer, or a dropped connection
// after acceptance. Decisions only; the simulator carries them out.

import { drawsFor } from './seeded-random';

/** Fault rates are shares of sends in [0, 1]; all default to 0 (no faults). */
export interface FaultOptions {
  /** Share of sends answered 500/503 with Meta's 131000 or 131016 body; the message is NOT accepted. */
  serverErrorRate?: number;
  /** Share of sends delayed by `slowMs` before they are accepted. */
  slowRate?: number;
  /** Delay of a slow send, in ms. Default 2000. */
  slowMs?: number;
  /**
   * Share of sends that are accepted (ledger entry, webhooks) but whose connection is destroyed without a
   * response: the client cannot tell whether the message went out.
   */
  dropAfterAcceptRate?: number;
  /** Makes the sequence of decisions reproducible; without it decisions use `Math.random`. */
  seed?: number;
}

/** What to do with one send. */
export interface FaultDecision {
  delayMs: number;
  serverError: 131000 | 131016 | undefined;
  isDropped: boolean;
}

const NO_FAULT: FaultDecision = { delayMs: 0, serverError: undefined, isDropped: false };

export class FaultInjector {
  private options: FaultOptions = {};
  private random: () => number = Math.random;

  constructor(options: FaultOptions = {}) {
    this.set(options);
  }

  /** Replaces all fault settings (fields left out go back to 0) and restarts the seeded sequence. */
  set(options: FaultOptions): void {
    this.options = { ...options };
    this.random = options.seed === undefined ? Math.random : drawsFor(`faults:${options.seed}`);
  }

  get(): FaultOptions {
    return { ...this.options };
  }

  /** One decision per send; each rate draws once, in a fixed order, so seeded runs repeat. */
  decide(): FaultDecision {
    const { serverErrorRate = 0, slowRate = 0, dropAfterAcceptRate = 0 } = this.options;
    if (serverErrorRate <= 0 && slowRate <= 0 && dropAfterAcceptRate <= 0) return NO_FAULT;
    const isSlow = slowRate > 0 && this.random() < slowRate;
    const errorDraw = serverErrorRate > 0 ? this.random() : 1;
    const serverError = errorDraw < serverErrorRate ? (errorDraw < serverErrorRate / 2 ? 131000 : 131016) : undefined;
    const isDropped = serverError === undefined && dropAfterAcceptRate > 0 && this.random() < dropAfterAcceptRate;
    return { delayMs: isSlow ? (this.options.slowMs ?? 2000) : 0, serverError, isDropped };
  }
}
