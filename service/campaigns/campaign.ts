// Campaign lifecycle: the states of API.md and the only moves between them, as a pure transition table.
// The store holds the state; HTTP routes and the engine both go through `assertTransition`.
import { AppError } from '../errors';

export type CampaignState = 'draft' | 'scheduled' | 'running' | 'paused' | 'cancelled' | 'finished';

export type CampaignCommand = 'start' | 'pause' | 'resume' | 'cancel' | 'due' | 'finish' | 'reopen';

/** Why a running campaign is not sending right now, or why it was paused. Shown to the marketer as is. */
export interface StateReason {
  code: string;
  message: string;
}

const TRANSITIONS: Readonly<Record<CampaignCommand, Partial<Record<CampaignState, CampaignState>>>> = {
  // `start` resolves to scheduled or running by sendAt; the table names the running case, see nextStateForStart.
  start: { draft: 'running' },
  due: { scheduled: 'running' },
  pause: { running: 'paused', scheduled: 'paused' },
  resume: { paused: 'running' },
  cancel: { draft: 'cancelled', scheduled: 'cancelled', running: 'cancelled', paused: 'cancelled' },
  finish: { running: 'finished' },
  // The marketer asked to send `unknown` rows again after the campaign had finished.
  reopen: { finished: 'running' },
};

/** The state `command` moves a campaign in `from` to, or an AppError('campaign_state') when it cannot. */
export function assertTransition(from: CampaignState, command: CampaignCommand): CampaignState {
  const to = TRANSITIONS[command][from];
  if (!to) {
    throw new AppError('campaign_state', `A ${from} campaign cannot be asked to ${command}.`);
  }
  return to;
}

/**
 * `command` as a compare-and-set for the store: the states it applies to, and the one state each command leads
 * to (`start` to running: the table's case; see nextStateForStart).
 */
export function transitionOf(command: CampaignCommand): { from: CampaignState[]; to: CampaignState } {
  const moves = TRANSITIONS[command];
  return { from: Object.keys(moves) as CampaignState[], to: Object.values(moves)[0] as CampaignState };
}

/** `start` sends now, or schedules when sendAt is still ahead (kept by the service, to the second). */
export function nextStateForStart(from: CampaignState, sendAtMs: number | null, nowMs: number): CampaignState {
  assertTransition(from, 'start');
  return sendAtMs !== null && sendAtMs > nowMs ? 'scheduled' : 'running';
}

/** Rows may be added until the campaign is over. */
export function acceptsRows(state: CampaignState): boolean {
  return state !== 'cancelled' && state !== 'finished';
}

/** The states in which rows may be added. */
export const STATES_ACCEPTING_ROWS: readonly CampaignState[] = ['draft', 'scheduled', 'running', 'paused'];

export function isTerminal(state: CampaignState): boolean {
  return state === 'cancelled' || state === 'finished';
}
