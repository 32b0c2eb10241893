// Ports for writing results back into the marketer's sheet: what the sync loop needs from the store and from
// Google. Domain side of issue 3; the googleapis adapter lives in adapters/google-sheets.
import type { MessageStatus } from '../campaigns/message-status';

/** Where a campaign's results go: the spreadsheet and the tab the rows came from. */
export interface SheetTarget {
  spreadsheetId: string;
  sheetName: string;
}

/** One row's latest state, as the status columns show it. Times are ms since the epoch. */
export interface MessageChange {
  /** Position in the campaign's change order: strictly increasing within the campaign, never reused. */
  seq: number;
  key: string;
  to: string;
  status: MessageStatus;
  wamid: string | null;
  error: { code: string; message: string } | null;
  reply: { text: string; at: number } | null;
  updatedAt: number;
}

/** A campaign whose results are written back, with how far the sheet has been brought up to date. */
export interface SheetCampaign {
  campaignId: string;
  accountId: string;
  target: SheetTarget;
  /** The `seq` of the last change written to the sheet (0 when none). */
  sheetCursor: number;
}

export interface SheetSyncStore {
  /** Campaigns created with a `sheet` that have changes after their sheet cursor. */
  listSheetCampaignsWithChanges(limit: number): Promise<SheetCampaign[]>;
  /** The campaign's rows changed after `afterSeq`, in change order, at most `limit`. */
  listChanges(campaignId: string, afterSeq: number, limit: number): Promise<MessageChange[]>;
  /** Moves the campaign's sheet cursor forward (never back). */
  saveSheetCursor(campaignId: string, seq: number): Promise<void>;
}

export type SheetWriteOutcome =
  | { kind: 'written'; rowsWritten: number; rowsNotFound: number }
  /** Google said slow down (429) or is briefly unavailable (5xx): try the same changes again later. */
  | { kind: 'retry'; retryAfterMs: number; reason: string }
  /** The sheet cannot be written (not shared with the service account, deleted, headers missing). */
  | { kind: 'blocked'; reason: string };

/** Writes a batch of row changes into a sheet's status columns in as few Sheets API calls as it can. */
export interface SheetWriter {
  write(target: SheetTarget, changes: readonly MessageChange[]): Promise<SheetWriteOutcome>;
  /** The service account's e-mail the user must share the sheet with, or null without credentials. */
  readonly serviceAccountEmail: string | null;
}
