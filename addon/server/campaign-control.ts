// Watching and steering a campaign from the sidebar: progress and funnel, pause, resume, cancel. Cancelling
// mid-upload also drops the unfinished send and clears its pending marks.
import { funnelFrom } from '../core/funnel';
import type { CampaignProgress } from '../core/rpc-api';
import type { CampaignState } from '../core/service-contract';
import { clearPendingMarks, progressOf } from './send-job';
import { requireClient } from './settings';
import { DocumentState } from './state-store';

type Spreadsheet = GoogleAppsScript.Spreadsheet.Spreadsheet;

/** The campaign's state and funnel, plus the upload's progress while rows are still being posted. */
export function campaignProgress(ss: Spreadsheet, campaignId: string): CampaignProgress {
  const campaign = requireClient().campaign(campaignId);
  const state = new DocumentState(ss.getId());
  state.updateCampaign(campaignId, { state: campaign.state });
  const job = state.job;
  return {
    campaign,
    funnel: funnelFrom(campaign.counts),
    send: job && job.campaignId === campaignId ? progressOf(job, false, campaign.state, null) : null,
  };
}

/** Pauses, resumes or cancels; returns the new state. Cancel also stops an unfinished upload of that campaign. */
export function changeCampaign(ss: Spreadsheet, campaignId: string, action: 'pause' | 'resume' | 'cancel'): CampaignState {
  const next = requireClient().setState(campaignId, action);
  const state = new DocumentState(ss.getId());
  state.updateCampaign(campaignId, { state: next });
  const job = state.job;
  if (action === 'cancel' && job && job.campaignId === campaignId) {
    state.job = null;
    clearPendingMarks(ss, job);
  }
  return next;
}
