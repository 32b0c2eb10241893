// Pulls results from the service (GET …/messages after the saved cursor) and writes them into the status columns:
// one range read and a handful of setValues per tab however many rows changed. Cursors move only after the write.
import { planCellBlocks } from '../core/cell-blocks';
import type { SyncReport } from '../core/rpc-api';
import type { MessageItem } from '../core/service-contract';
import { planStatusLayout } from '../core/status-columns';
import { mergeMessageItems } from '../core/sync-merge';
import { requireClient } from './settings';
import { readTable, sheetByName, writeBlocks } from './sheet-io';
import { DocumentState, type TrackedCampaign } from './state-store';

/** API.md has no stated page cap; 5,000 matches the upload chunk and keeps a page well under UrlFetch's 50 MB. */
export const PAGE_SIZE = 5000;
/** Pages per campaign per run: 100,000 changes, which is ample for one hourly tick. */
export const MAX_PAGES = 20;
/** Finished campaigns keep being pulled this long, for late replies and read receipts. */
const FINISHED_PULL_MS = 7 * 24 * 3_600_000;

/** Pulls every tracked campaign of `ss` and writes the changes. Call inside the document lock. */
export function syncResults(ss: GoogleAppsScript.Spreadsheet.Spreadsheet, nowMs: number = Date.now()): SyncReport {
  const state = new DocumentState(ss.getId());
  const tracked = state.campaigns.filter((c) => c.spreadsheetId === ss.getId() && isWorthPulling(c, nowMs));
  const report: SyncReport = { campaigns: tracked.length, changes: 0, rowsChanged: 0, writes: 0 };
  if (tracked.length === 0) return report;
  const client = requireClient();

  const bySheet = new Map<string, { items: MessageItem[]; cursors: Map<string, string | null> }>();
  for (const c of tracked) {
    let cursor = c.cursor;
    const group = bySheet.get(c.sheetName) ?? { items: [] as MessageItem[], cursors: new Map<string, string | null>() };
    for (let page = 0; page < MAX_PAGES; page += 1) {
      const result = client.messages(c.id, cursor, PAGE_SIZE);
      group.items.push(...result.items);
      if (result.next !== null) cursor = result.next;
      if (result.items.length < PAGE_SIZE || result.next === null) break;
    }
    group.cursors.set(c.id, cursor);
    bySheet.set(c.sheetName, group);
  }

  for (const [sheetName, group] of bySheet) {
    report.changes += group.items.length;
    if (group.items.length > 0) {
      const table = readTable(sheetByName(ss, sheetName));
      const { layout, headersToAdd } = planStatusLayout(table.headers);
      // Without a key column there is nothing to match on; the cursor stays so the changes are not lost.
      if (headersToAdd.some((h) => h.text === 'WA Key')) continue;
      const merged = mergeMessageItems(group.items, table.rows, layout);
      const blocks = planCellBlocks(table.rows, merged.updates);
      writeBlocks(table.sheet, blocks);
      report.rowsChanged += merged.rowsChanged;
      report.writes += blocks.length;
    }
    for (const [id, cursor] of group.cursors) state.updateCampaign(id, { cursor });
  }
  return report;
}

function isWorthPulling(c: TrackedCampaign, nowMs: number): boolean {
  if (c.state !== 'finished' && c.state !== 'cancelled') return true;
  return nowMs - Date.parse(c.createdAt) < FINISHED_PULL_MS;
}
