// What the sidebar's compose screen needs: the tab's headers and a sample, the detected phone column, the
// account's templates; and the live preview and the test send. Reads only; never writes keys or statuses.
import { AddonError } from '../core/addon-error';
import { buildRowUpload, cellText, findMappingProblems, headerIndex, type ComposeConfig } from '../core/column-mapping';
import { detectPhoneColumn } from '../core/phone-column';
import { summarisePreview } from '../core/preview-summary';
import { selectRows } from '../core/row-selection';
import type { ComposeContext, PreviewView } from '../core/rpc-api';
import type { PreviewRequest, TestSendResult } from '../core/service-contract';
import { isStatusHeader, planStatusLayout } from '../core/status-columns';
import { chunk, rounds } from '../core/upload-plan';
import { findTemplate, progressOf } from './send-job';
import { requireClient } from './settings';
import { hiddenDataRows, readTable, selectedDataSpans, sheetByName, sheetNames, type SheetTable } from './sheet-io';
import { DocumentState } from './state-store';

type Spreadsheet = GoogleAppsScript.Spreadsheet.Spreadsheet;

/** Everything the compose screen shows for `sheetName` (null: the last composed tab, else the active one). */
export function composeContext(ss: Spreadsheet, sheetName: string | null): ComposeContext {
  const client = requireClient();
  const account = client.account();
  const templates = client.templates();
  const state = new DocumentState(ss.getId());
  const last = state.lastCompose;
  const names = sheetNames(ss);
  const chosen = sheetName ?? (last && names.includes(last.sheetName) ? last.sheetName : ss.getActiveSheet().getName());
  const table = readTable(sheetByName(ss, chosen));
  const dataAt = table.headers.flatMap((h, i) => (cellText(h) !== '' && !isStatusHeader(h) ? [i] : []));
  const phone = detectPhoneColumn(table.headers, table.rows.slice(0, 50));
  const job = state.job;
  const recurring = state.recurring;
  return {
    spreadsheetName: ss.getName(),
    sheetNames: names,
    sheetName: chosen,
    headers: dataAt.map((i) => cellText(table.headers[i])),
    sampleRows: table.rows.slice(0, 5).map((r) => dataAt.map((i) => cellText(r[i]))),
    rowCount: table.rows.length,
    detectedPhoneColumn: phone === null ? null : cellText(table.headers[phone]),
    templates,
    account,
    lastCompose: last,
    recurring: recurring
      ? { recurrence: recurring.recurrence, campaignName: recurring.config.campaignName ?? recurring.config.sheetName, lastRunAt: recurring.lastRunAt }
      : null,
    activeSend: job ? progressOf(job, false, null, null) : null,
    campaigns: state.campaigns.map((c) => ({ id: c.id, name: c.name, sheetName: c.sheetName, state: c.state, createdAt: c.createdAt })),
  };
}

/** Rows `config` selects, as read from one range read (keys not assigned yet; previews use stand-in keys). */
function selectedRows(ss: Spreadsheet, table: SheetTable, config: ComposeConfig): number[] {
  const index = headerIndex(table.headers);
  const phoneAt = index.get(config.phoneColumn.trim().toLowerCase());
  if (phoneAt === undefined) throw new AddonError('sheet_layout', `The phone column "${config.phoneColumn}" is not in the header row.`);
  const layout = planStatusLayout(table.headers).layout;
  const rowCount = table.rows.length;
  return selectRows({
    mode: config.selection,
    rowCount,
    phones: table.rows.map((r) => r[phoneAt]),
    keys: table.rows.map((r) => (layout.key < table.headers.length ? r[layout.key] : '')),
    ...(config.selection === 'visible' ? { hidden: hiddenDataRows(table.sheet, rowCount) } : {}),
    ...(config.selection === 'selected' ? { selectedSpans: selectedDataSpans(ss, table.sheet) } : {}),
  });
}

/**
 * Previews every selected row with the service (chunks of 5,000 in fetchAll rounds) and counts valid, invalid,
 * duplicate and opted-out numbers. Nothing is sent and nothing is written to the sheet.
 */
export function previewSend(ss: Spreadsheet, config: ComposeConfig): PreviewView {
  const client = requireClient();
  const template = findTemplate(client, config.template);
  const table = readTable(sheetByName(ss, config.sheetName));
  const problems = findMappingProblems(config, template, table.headers);
  if (problems.length > 0) throw new AddonError('template_mismatch', problems.join(' '));
  const rows = selectedRows(ss, table, config);
  const index = headerIndex(table.headers);
  const keyAt = planStatusLayout(table.headers).layout.key;
  const uploads = rows.map((r) => {
    const existing = cellText(table.rows[r]![keyAt]);
    return buildRowUpload(table.rows[r]!, existing === '' ? `row-${r + 2}` : existing, index, config);
  });
  const requests: PreviewRequest[] = chunk(uploads).map((part) => ({
    template: config.template,
    ...(config.defaultCountry ? { defaultCountry: config.defaultCountry } : {}),
    rows: part,
  }));
  const answers = rounds(requests).flatMap((round) => client.preview(round));
  const suppressed = new Set(client.suppressions());
  return { ...summarisePreview(answers.flatMap((a) => a.rows), suppressed), selectedRows: rows.length };
}

/** Sends the template to `to` (the marketer's own number) with the first selected row's values (else the first row's). */
export function sendTest(ss: Spreadsheet, config: ComposeConfig, to: string): TestSendResult {
  if (to.trim() === '') throw new AddonError('invalid_input', 'Enter your own WhatsApp number for the test message.');
  const client = requireClient();
  const template = findTemplate(client, config.template);
  const table = readTable(sheetByName(ss, config.sheetName));
  const problems = findMappingProblems(config, template, table.headers);
  if (problems.length > 0) throw new AddonError('template_mismatch', problems.join(' '));
  // A row the marketer did not select stays in the sheet; with nothing selected yet, the first row stands in.
  const selected = selectedRows(ss, table, config);
  const rows = selected.length > 0 ? selected : selectedRows(ss, table, { ...config, selection: 'all' });
  const row = rows.length > 0 ? table.rows[rows[0]!]! : [];
  const upload = buildRowUpload(row, 'test', headerIndex(table.headers), config);
  return client.testSend({
    to: to.trim(),
    template: config.template,
    params: upload.params,
    ...(upload.headerMedia ? { headerMedia: upload.headerMedia } : {}),
  });
}
