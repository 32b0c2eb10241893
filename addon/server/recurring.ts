// Recurring sends: one stored composition sent to the rows added since the last run, hourly/daily/weekly from the
// clock tick or on each form submission. Each run is its own campaign; rows already keyed are never picked again.
import { AddonError } from '../core/addon-error';
import type { ComposeConfig } from '../core/column-mapping';
import { isRunDue, type Recurrence } from '../core/recurrence';
import type { RecurringView, SendProgress } from '../core/rpc-api';
import { startSend, type SendOptions } from './send-job';
import { DocumentState } from './state-store';
import { ensureHourlyTick, setFormTrigger } from './triggers';

type Spreadsheet = GoogleAppsScript.Spreadsheet.Spreadsheet;

/** Stores (or with nulls, removes) the recurring send and installs the one trigger it needs. */
export function configureRecurring(ss: Spreadsheet, config: ComposeConfig | null, recurrence: Recurrence | null): RecurringView | null {
  const state = new DocumentState(ss.getId());
  if (config === null || recurrence === null) {
    state.recurring = null;
    setFormTrigger(ss, false);
    return null;
  }
  state.recurring = { recurrence, config: { ...config, selection: 'new', sendAt: null }, spreadsheetId: ss.getId(), lastRunAt: null };
  setFormTrigger(ss, recurrence === 'form');
  ensureHourlyTick(ss);
  return { recurrence, campaignName: config.campaignName ?? config.sheetName, lastRunAt: null };
}

/**
 * Runs the recurring send when due (`force`: a form submission). Returns the send's progress, or null when nothing
 * was due, a send is still uploading, or no rows were new. Call inside the document lock.
 */
export function runRecurringIfDue(ss: Spreadsheet, force: boolean, nowMs: number, options: SendOptions = {}): SendProgress | null {
  const state = new DocumentState(ss.getId());
  const recurring = state.recurring;
  if (!recurring) return null;
  const lastRunAtMs = recurring.lastRunAt === null ? null : Date.parse(recurring.lastRunAt);
  if (!force && !isRunDue(recurring.recurrence, lastRunAtMs, nowMs)) return null;
  if (state.job) return null;
  state.recurring = { ...recurring, lastRunAt: new Date(nowMs).toISOString() };
  const stamp = new Date(nowMs).toISOString().slice(0, 16).replace('T', ' ');
  const base = recurring.config.campaignName?.trim() || recurring.config.sheetName;
  try {
    return startSend(ss, { ...recurring.config, selection: 'new', campaignName: `${base} ${stamp}` }, options);
  } catch (error) {
    if (error instanceof AddonError && error.code === 'invalid_input') return null;
    throw error;
  }
}
