// Sending: reads the rows once, gives each a key and marks it pending in one write, creates the campaign, posts the
// rows in chunks of 5,000 (fetchAll rounds) within a time budget, then starts the campaign. The sheet's `pending`
// marks are the resumable plan: a later run posts exactly the rows still marked, and a re-posted key is only ever
// counted as a duplicate by the service, so no row is sent twice.
import { AddonError, toErrorInfo, type ErrorInfo } from '../core/addon-error';
import { planCellBlocks } from '../core/cell-blocks';
import { buildRowUpload, findMappingProblems, headerIndex, type ComposeConfig } from '../core/column-mapping';
import { assignRowKeys } from '../core/row-key';
import { selectRows } from '../core/row-selection';
import type { SendProgress } from '../core/rpc-api';
import type { CampaignState, RowUpload, Template } from '../core/service-contract';
import type { StatusLayout } from '../core/status-columns';
import {
  chunk, EXECUTION_BUDGET_MS, hasTimeForRound, PENDING_STATUS, pendingMarks, REJECTED_STATUS, rounds, type SendJob,
} from '../core/upload-plan';
import type { ServiceClient } from './service-client';
import { requireClient } from './settings';
import {
  ensureStatusColumns, hiddenDataRows, readTable, selectedDataSpans, sheetByName, writeBlocks, type SheetTable,
} from './sheet-io';
import { DocumentState } from './state-store';
import { ensureHourlyTick, scheduleContinuation } from './triggers';

/** Knobs tests turn; production uses the defaults. */
export interface SendOptions {
  nowMs?: () => number;
  budgetMs?: number;
  random?: () => number;
}

type Spreadsheet = GoogleAppsScript.Spreadsheet.Spreadsheet;

/** Errors after which another round in the same run would fail the same way. */
const STOPPING: ReadonlySet<ErrorInfo['code']> = new Set(['bad_key', 'service_unreachable', 'apps_script_quota', 'quota_exceeded', 'not_found']);

/** Finds the approved template the config names, or says in words that it is gone. */
export function findTemplate(client: ServiceClient, ref: ComposeConfig['template']): Template {
  const template = client.templates().find((t) => t.name === ref.name && t.language === ref.language);
  if (!template) {
    throw new AddonError(
      'template_mismatch',
      `The template "${ref.name}" (${ref.language}) is not among your approved templates any more. Pick another one.`,
    );
  }
  return template;
}

/**
 * Starts a send for `config` on `ss`. Throws `busy` while another send to this document is still uploading,
 * `template_mismatch` when the mapping does not fit the template, `invalid_input` when no row qualifies.
 * Call inside the document lock.
 */
export function startSend(ss: Spreadsheet, config: ComposeConfig, options: SendOptions = {}): SendProgress {
  const now = options.nowMs ?? Date.now;
  const startedAt = now();
  const state = new DocumentState(ss.getId());
  const existing = state.job;
  if (existing) {
    throw new AddonError(
      'busy',
      `A send to "${existing.sheetName}" is still uploading (${existing.uploaded} of ${existing.total} rows). It continues by itself; wait for it or cancel it.`,
    );
  }
  const client = requireClient();
  const template = findTemplate(client, config.template);
  const sheet = sheetByName(ss, config.sheetName);
  const table = readTable(sheet);
  const problems = findMappingProblems(config, template, table.headers);
  if (problems.length > 0) throw new AddonError('template_mismatch', problems.join(' '));
  const layout = ensureStatusColumns(table);
  const index = headerIndex(table.headers);
  const phoneAt = index.get(config.phoneColumn.trim().toLowerCase())!;
  const rowCount = table.rows.length;
  const keyCells = table.rows.map((r) => r[layout.key]);
  const selected = selectRows({
    mode: config.selection,
    rowCount,
    phones: table.rows.map((r) => r[phoneAt]),
    keys: keyCells,
    ...(config.selection === 'visible' ? { hidden: hiddenDataRows(sheet, rowCount) } : {}),
    ...(config.selection === 'selected' ? { selectedSpans: selectedDataSpans(ss, sheet) } : {}),
  });
  if (selected.length === 0) {
    throw new AddonError('invalid_input', noRowsMessage(config));
  }

  const campaign = client.createCampaign({
    name: config.campaignName?.trim() || `${ss.getName()} – ${config.sheetName}`,
    template: config.template,
    ...(config.sendAt ? { sendAt: config.sendAt } : {}),
    ...(config.defaultCountry ? { defaultCountry: config.defaultCountry } : {}),
    sheet: { spreadsheetId: ss.getId(), sheetName: config.sheetName },
  });
  const job: SendJob = {
    campaignId: campaign.id, spreadsheetId: ss.getId(), sheetName: config.sheetName, config, phase: 'uploading',
    total: selected.length, uploaded: 0, accepted: 0, duplicates: 0, rejected: 0, runs: 0, createdAt: new Date(startedAt).toISOString(),
  };
  state.job = job;
  state.track({
    id: campaign.id, name: config.campaignName?.trim() || config.sheetName, sheetName: config.sheetName,
    spreadsheetId: ss.getId(), cursor: null, state: campaign.state, createdAt: job.createdAt,
  });
  state.lastCompose = config;

  // Keys and the pending mark go in together: from here on the sheet itself says which rows are left to post.
  const { keys } = assignRowKeys(keyCells, selected, options.random ?? Math.random);
  applyWrites(table, pendingMarks(layout, selected, keys));
  return uploadPending(ss, state, client, job, table, layout, { ...options, nowMs: now }, startedAt);
}

/** Continues the document's unfinished send, if any; null when there is none. Call inside the document lock. */
export function continueSend(ss: Spreadsheet, options: SendOptions = {}): SendProgress | null {
  const now = options.nowMs ?? Date.now;
  const startedAt = now();
  const state = new DocumentState(ss.getId());
  const job = state.job;
  if (!job) return null;
  const client = requireClient();
  const table = readTable(sheetByName(ss, job.sheetName));
  const layout = ensureStatusColumns(table);
  return uploadPending(ss, state, client, job, table, layout, { ...options, nowMs: now }, startedAt);
}

/** The unfinished send's progress without doing any work. */
export function progressOf(job: SendJob, done: boolean, state: CampaignState | null, error: ErrorInfo | null): SendProgress {
  return {
    campaignId: job.campaignId, total: job.total, uploaded: job.uploaded, accepted: job.accepted, duplicates: job.duplicates,
    rejected: job.rejected, done, state, error,
  };
}

/**
 * Writes `cancelled` over the rows still marked pending (after the marketer cancels mid-upload), in one block write.
 */
export function clearPendingMarks(ss: Spreadsheet, job: SendJob): void {
  const table = readTable(sheetByName(ss, job.sheetName));
  const layout = ensureStatusColumns(table);
  const updates = new Map<number, Map<number, unknown>>();
  table.rows.forEach((row, r) => {
    if (isPending(row, layout)) updates.set(r, new Map([[layout.status, 'cancelled']]));
  });
  applyWrites(table, updates);
}

function uploadPending(
  ss: Spreadsheet, state: DocumentState, client: ServiceClient, job: SendJob, table: SheetTable, layout: StatusLayout,
  options: SendOptions & { nowMs: () => number }, startedAt: number,
): SendProgress {
  const now = options.nowMs;
  const budget = options.budgetMs ?? EXECUTION_BUDGET_MS;
  const index = headerIndex(table.headers);
  const pendingRows: number[] = [];
  table.rows.forEach((row, r) => {
    if (isPending(row, layout)) pendingRows.push(r);
  });
  const uploads: RowUpload[] = pendingRows.map((r) => buildRowUpload(table.rows[r]!, String(table.rows[r]![layout.key]).trim(), index, job.config));
  const rowOfKey = new Map(uploads.map((u, i) => [u.key, pendingRows[i]!]));
  const results = new Map<number, Map<number, unknown>>();
  let slowestRoundMs: number | null = null;
  let error: ErrorInfo | null = null;
  const stamp = new Date(now()).toISOString();

  for (const round of rounds(chunk(uploads))) {
    if (!hasTimeForRound(startedAt, now(), slowestRoundMs, budget)) break;
    const t0 = now();
    const answers = client.uploadRows(job.campaignId, round);
    slowestRoundMs = Math.max(slowestRoundMs ?? 0, now() - t0);
    answers.forEach((answer, i) => {
      const rows = round[i]!;
      if (answer instanceof AddonError) {
        error ??= toErrorInfo(answer);
        return;
      }
      job.uploaded += rows.length;
      job.accepted += answer.accepted;
      job.duplicates += answer.duplicates;
      job.rejected += answer.rejected.length;
      const rejected = new Map(answer.rejected.map((x) => [x.key, x]));
      for (const u of rows) {
        const no = rejected.get(u.key);
        results.set(rowOfKey.get(u.key)!, new Map<number, unknown>([
          [layout.status, no ? REJECTED_STATUS : 'queued'],
          [layout.error, no ? `${no.message} (${no.code})` : ''],
          [layout.updated, stamp],
        ]));
      }
    });
    // The forEach callback assigns `error`; TypeScript's narrowing cannot see that.
    const seen = error as ErrorInfo | null;
    if (seen && STOPPING.has(seen.code)) break;
  }
  applyWrites(table, results);
  job.runs += 1;

  if (pendingRows.length - results.size > 0) {
    state.job = job;
    scheduleContinuation(ss, state);
    return progressOf(job, false, null, error);
  }
  job.phase = 'starting';
  state.job = job;
  let campaignState: CampaignState;
  if (job.accepted + job.duplicates === 0) {
    // Nothing the service could send: cancel rather than leave an empty draft behind.
    campaignState = client.setState(job.campaignId, 'cancel');
  } else {
    campaignState = startOnce(client, job.campaignId);
  }
  state.job = null;
  state.updateCampaign(job.campaignId, { state: campaignState });
  ensureHourlyTick(ss);
  return progressOf(job, true, campaignState, error);
}

/** Starts the campaign; a start that already happened (a lost answer, then a resume) is not an error. */
function startOnce(client: ServiceClient, campaignId: string): CampaignState {
  try {
    return client.setState(campaignId, 'start');
  } catch (error) {
    if (error instanceof AddonError && error.code === 'invalid_input') {
      const current = client.campaign(campaignId).state;
      if (current !== 'draft') return current;
    }
    throw error;
  }
}

function isPending(row: readonly unknown[], layout: StatusLayout): boolean {
  return String(row[layout.status] ?? '').trim().toLowerCase() === PENDING_STATUS;
}

/** Writes `updates` as a few blocks and mirrors them into the in-memory rows. */
function applyWrites(table: SheetTable, updates: Map<number, Map<number, unknown>>): void {
  writeBlocks(table.sheet, planCellBlocks(table.rows, updates));
  for (const [r, cells] of updates) {
    const row = table.rows[r]!;
    for (const [c, v] of cells) {
      while (row.length <= c) row.push('');
      row[c] = v;
    }
  }
}

function noRowsMessage(config: ComposeConfig): string {
  switch (config.selection) {
    case 'selected':
      return 'No rows to send: select the rows (on this tab) that should receive the message, then try again.';
    case 'visible':
      return 'No rows to send: every row with a phone number is hidden by the filter.';
    case 'new':
      return 'No new rows since the last run.';
    default:
      return `No rows to send: the column "${config.phoneColumn}" is empty.`;
  }
}
