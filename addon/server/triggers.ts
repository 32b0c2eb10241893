// The add-on's installable triggers. Apps Script allows an add-on one trigger of each type per user per document
// and clock triggers at most hourly, so there is one clock trigger (hourly tick: sync, recurring sends, resumes) that
// is briefly swapped for a one-off continuation, and one form-submit trigger. Owns ScriptApp's trigger API.
import { DocumentState, userState } from './state-store';

/** Global function names the triggers call (exported from main.ts). */
export const CLOCK_HANDLER = 'onClockTick';
export const FORM_HANDLER = 'onFormSubmitTrigger';

/** Delay before a continuation run; Apps Script only guarantees "not earlier than". */
export const CONTINUATION_DELAY_MS = 60_000;

function myTriggers(ss: GoogleAppsScript.Spreadsheet.Spreadsheet, handler: string): GoogleAppsScript.Script.Trigger[] {
  return ScriptApp.getUserTriggers(ss).filter((t) => t.getHandlerFunction() === handler);
}

function remove(trigger: GoogleAppsScript.Script.Trigger): void {
  userState.forgetTrigger(trigger.getUniqueId());
  ScriptApp.deleteTrigger(trigger);
}

/** Installs the hourly clock trigger unless a clock trigger (hourly or continuation) already exists. Idempotent. */
export function ensureHourlyTick(ss: GoogleAppsScript.Spreadsheet.Spreadsheet): void {
  if (myTriggers(ss, CLOCK_HANDLER).length > 0) return;
  const t = ScriptApp.newTrigger(CLOCK_HANDLER).timeBased().everyHours(1).create();
  userState.rememberTrigger(t.getUniqueId(), ss.getId());
}

/**
 * Replaces the clock trigger with a one-off run about a minute from now, so an upload that ran out of time
 * continues soon instead of at the next hourly tick. The tick restores the hourly trigger when it runs.
 */
export function scheduleContinuation(ss: GoogleAppsScript.Spreadsheet.Spreadsheet, state: DocumentState): void {
  const pending = state.continuationTriggerId;
  if (pending !== null && myTriggers(ss, CLOCK_HANDLER).some((t) => t.getUniqueId() === pending)) return;
  for (const t of myTriggers(ss, CLOCK_HANDLER)) remove(t);
  const t = ScriptApp.newTrigger(CLOCK_HANDLER).timeBased().after(CONTINUATION_DELAY_MS).create();
  userState.rememberTrigger(t.getUniqueId(), ss.getId());
  state.continuationTriggerId = t.getUniqueId();
}

/** Called at the start of a tick: a fired continuation is removed and the hourly tick put back. */
export function settleContinuation(ss: GoogleAppsScript.Spreadsheet.Spreadsheet, state: DocumentState, firedUid: string | null): void {
  const pending = state.continuationTriggerId;
  if (pending === null || (firedUid !== null && firedUid !== pending)) return;
  for (const t of myTriggers(ss, CLOCK_HANDLER)) if (t.getUniqueId() === pending) remove(t);
  state.continuationTriggerId = null;
  ensureHourlyTick(ss);
}

/** Installs or removes the form-submit trigger. Idempotent. */
export function setFormTrigger(ss: GoogleAppsScript.Spreadsheet.Spreadsheet, enabled: boolean): void {
  const existing = myTriggers(ss, FORM_HANDLER);
  if (!enabled) {
    for (const t of existing) remove(t);
    return;
  }
  if (existing.length > 0) return;
  const t = ScriptApp.newTrigger(FORM_HANDLER).forSpreadsheet(ss).onFormSubmit().create();
  userState.rememberTrigger(t.getUniqueId(), ss.getId());
}
