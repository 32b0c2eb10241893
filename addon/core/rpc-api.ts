// The contract between the sidebar and the server's RPC globals: names, arguments and answers. Types only, so the
// sidebar can type its google.script.run calls without importing server code (which needs Apps Script globals).
import type { ErrorInfo } from './addon-error';
import type { ComposeConfig } from './column-mapping';
import type { Funnel } from './funnel';
import type { PreviewSummary } from './preview-summary';
import type { Recurrence } from './recurrence';
import type { Account, Campaign, CampaignState, Template, TestSendResult } from './service-contract';

/** Every RPC answers with an envelope: Error objects do not survive google.script.run, plain objects do. */
export type RpcResult<T> = { ok: true; value: T } | { ok: false; error: ErrorInfo };

export interface SettingsView {
  serviceUrl: string;
  hasApiKey: boolean;
  /** The key's last four characters, so the marketer can tell which key is saved. */
  apiKeyHint: string;
  testNumber: string;
  account: Account | null;
}

export interface ComposeContext {
  spreadsheetName: string;
  sheetNames: string[];
  sheetName: string;
  headers: string[];
  /** Up to five data rows as text, for the mapping screen. */
  sampleRows: string[][];
  rowCount: number;
  detectedPhoneColumn: string | null;
  templates: Template[];
  account: Account;
  lastCompose: ComposeConfig | null;
  recurring: RecurringView | null;
  activeSend: SendProgress | null;
  campaigns: CampaignSummary[];
}

export interface PreviewView extends PreviewSummary {
  /** Rows the send would cover (the selection), of which `total` were previewed. */
  selectedRows: number;
}

export interface SendProgress {
  campaignId: string;
  total: number;
  uploaded: number;
  accepted: number;
  duplicates: number;
  rejected: number;
  /** True when every row is posted and the campaign was started (or scheduled). */
  done: boolean;
  state: CampaignState | null;
  /** Set when this run stopped early on an error; the rest resumes on the next run. */
  error: ErrorInfo | null;
}

export interface CampaignSummary {
  id: string;
  name: string;
  sheetName: string;
  state: CampaignState | null;
  createdAt: string;
}

export interface CampaignProgress {
  campaign: Campaign;
  funnel: Funnel;
  send: SendProgress | null;
}

export interface RecurringView {
  recurrence: Recurrence;
  campaignName: string;
  lastRunAt: string | null;
}

export interface SyncReport {
  campaigns: number;
  changes: number;
  rowsChanged: number;
  writes: number;
}

/** The RPC globals the sidebar may call, with their argument lists and unwrapped answers. */
export interface AddonRpc {
  getSettings(): SettingsView;
  saveSettings(serviceUrl: string, apiKey: string, testNumber: string): SettingsView;
  getComposeContext(sheetName: string | null): ComposeContext;
  previewSend(config: ComposeConfig): PreviewView;
  sendTest(config: ComposeConfig, to: string): TestSendResult;
  startSend(config: ComposeConfig): SendProgress;
  continueSend(): SendProgress | null;
  getCampaignProgress(campaignId: string): CampaignProgress;
  pauseCampaign(campaignId: string): CampaignState;
  resumeCampaign(campaignId: string): CampaignState;
  cancelCampaign(campaignId: string): CampaignState;
  syncNow(): SyncReport;
  setRecurringSend(config: ComposeConfig | null, recurrence: Recurrence | null): RecurringView | null;
}

/** The server-side shape: each RPC returns its answer inside an RpcResult envelope. */
export type AddonRpcServer = {
  [K in keyof AddonRpc]: (...args: Parameters<AddonRpc[K]>) => RpcResult<ReturnType<AddonRpc[K]>>;
};
