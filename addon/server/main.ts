// THE ONLY file whose exports become Apps Script globals (build-addon.mjs writes a top-level stub for each export):
// simple triggers, menu actions, sidebar RPCs and installable-trigger handlers. Module level must stay free of
// service calls: Apps Script runs it in every auth mode, including onOpen's AuthMode.NONE.
import { toErrorInfo } from '../core/addon-error';
import type { ComposeConfig } from '../core/column-mapping';
import type { Recurrence } from '../core/recurrence';
import type { AddonRpcServer, RpcResult } from '../core/rpc-api';
import { campaignProgress, changeCampaign } from './campaign-control';
import { composeContext, previewSend as preview, sendTest as test } from './compose';
import { withDocumentLock } from './document-lock';
import { configureRecurring, runRecurringIfDue } from './recurring';
import { continueSend as resumeSend, startSend as beginSend } from './send-job';
import { readSettings, saveSettings as storeSettings } from './settings';
import { activeSpreadsheet, alert, installMenu, spreadsheetFor, toast } from './sheet-io';
import { openSidebar } from './sidebar';
import { DocumentState, userState } from './state-store';
import { syncResults } from './sync';
import { settleContinuation } from './triggers';

function rpc<T>(fn: () => T): RpcResult<T> {
  try {
    return { ok: true, value: fn() };
  } catch (error) {
    const info = toErrorInfo(error);
    if (info.code === 'internal') console.error(error);
    return { ok: false, error: info };
  }
}

/** Runs a menu action; an error becomes an alert in words instead of Apps Script's generic failure bar. */
function menuAction(title: string, fn: () => string | void): void {
  try {
    const message = fn();
    if (message) toast(message);
  } catch (error) {
    const info = toErrorInfo(error);
    if (info.code === 'internal') console.error(error);
    alert(title, info.message);
  }
}

// ---- simple triggers and menu ------------------------------------------------------------------------------

/** Builds the add-on menu. Works in every auth mode: it touches nothing but the menu. */
export function onOpen(_e?: GoogleAppsScript.Events.SheetsOnOpen): void {
  installMenu([
    ['Compose & send', 'showSidebar'],
    ['Sync results now', 'menuSyncNow'],
    null,
    ['Settings', 'showSettings'],
  ]);
}

/** Runs once in FULL mode when the user installs the add-on; the menu must appear without a reload. */
export function onInstall(e?: GoogleAppsScript.Events.AddonOnInstall): void {
  onOpen(e as GoogleAppsScript.Events.SheetsOnOpen | undefined);
}

/** Menu: opens the compose sidebar. */
export function showSidebar(): void {
  openSidebar('compose');
}

/** Menu: opens the sidebar on the connection settings. */
export function showSettings(): void {
  openSidebar('settings');
}

/** Menu: pulls results now and says how many rows changed. */
export function menuSyncNow(): void {
  menuAction('Sync results', () => {
    const report = withDocumentLock(() => syncResults(activeSpreadsheet()));
    return report.campaigns === 0
      ? 'No campaigns to sync in this spreadsheet yet.'
      : `Synced ${report.campaigns} campaign(s): ${report.rowsChanged} row(s) updated.`;
  });
}

// ---- sidebar RPCs (each answers an RpcResult envelope) ---------------------------------------------------------

export const getSettings: AddonRpcServer['getSettings'] = () => rpc(() => readSettings(true));

export const saveSettings: AddonRpcServer['saveSettings'] = (serviceUrl, apiKey, testNumber) =>
  rpc(() => storeSettings(serviceUrl, apiKey, testNumber));

export const getComposeContext: AddonRpcServer['getComposeContext'] = (sheetName) =>
  rpc(() => composeContext(activeSpreadsheet(), sheetName));

export const previewSend: AddonRpcServer['previewSend'] = (config: ComposeConfig) =>
  rpc(() => preview(activeSpreadsheet(), config));

export const sendTest: AddonRpcServer['sendTest'] = (config: ComposeConfig, to: string) =>
  rpc(() => {
    userState.set({ testNumber: to.trim() });
    return test(activeSpreadsheet(), config, to);
  });

export const startSend: AddonRpcServer['startSend'] = (config: ComposeConfig) =>
  rpc(() => withDocumentLock(() => beginSend(activeSpreadsheet(), config)));

export const continueSend: AddonRpcServer['continueSend'] = () =>
  rpc(() => withDocumentLock(() => resumeSend(activeSpreadsheet())));

export const getCampaignProgress: AddonRpcServer['getCampaignProgress'] = (campaignId) =>
  rpc(() => campaignProgress(activeSpreadsheet(), campaignId));

export const pauseCampaign: AddonRpcServer['pauseCampaign'] = (campaignId) =>
  rpc(() => changeCampaign(activeSpreadsheet(), campaignId, 'pause'));

export const resumeCampaign: AddonRpcServer['resumeCampaign'] = (campaignId) =>
  rpc(() => changeCampaign(activeSpreadsheet(), campaignId, 'resume'));

export const cancelCampaign: AddonRpcServer['cancelCampaign'] = (campaignId) =>
  rpc(() => withDocumentLock(() => changeCampaign(activeSpreadsheet(), campaignId, 'cancel')));

export const syncNow: AddonRpcServer['syncNow'] = () => rpc(() => withDocumentLock(() => syncResults(activeSpreadsheet())));

export const setRecurringSend: AddonRpcServer['setRecurringSend'] = (config: ComposeConfig | null, recurrence: Recurrence | null) =>
  rpc(() => configureRecurring(activeSpreadsheet(), config, recurrence));

// ---- installable-trigger handlers ------------------------------------------------------------------------------

/**
 * The one clock trigger (hourly, or a one-off continuation): finishes an unfinished upload, runs a due recurring
 * send, then pulls results. Each step's failure is logged and does not stop the next (add-ons get no failure mail).
 */
export function onClockTick(e?: GoogleAppsScript.Events.TimeDriven): void {
  const uid = e?.triggerUid ?? null;
  const ss = spreadsheetFor(uid === null ? null : userState.spreadsheetForTrigger(uid));
  withDocumentLock(() => {
    const state = new DocumentState(ss.getId());
    settleContinuation(ss, state, uid);
    const steps: [string, () => unknown][] = [
      ['continue send', () => resumeSend(ss)],
      ['recurring send', () => runRecurringIfDue(ss, false, Date.now())],
      ['sync', () => syncResults(ss)],
    ];
    for (const [name, step] of steps) {
      try {
        step();
      } catch (error) {
        console.error(`onClockTick ${name}: ${toErrorInfo(error).message}`);
      }
    }
  }, 60_000);
}

/** Form-submit trigger: sends the recurring composition to the rows added since the last run. */
export function onFormSubmitTrigger(e?: GoogleAppsScript.Events.SheetsOnFormSubmit): void {
  const ss = e?.range?.getSheet().getParent() ?? spreadsheetFor(e?.triggerUid ? userState.spreadsheetForTrigger(e.triggerUid) : null);
  withDocumentLock(() => runRecurringIfDue(ss, true, Date.now()), 60_000);
}
