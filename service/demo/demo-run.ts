// The demo's run: a CSV goes through the service as the add-on sends a sheet (keys and pending marks, rows posted in
// chunks, start), progress comes from the campaign's counts, and the changes feed is merged into the status columns
// of a copy. Every sheet decision is the add-on's own pure core; this file only sequences the calls.
import { readFile, writeFile } from 'node:fs/promises';
import { relative } from 'node:path';
import { buildRowUpload, findMappingProblems, headerIndex, type ComposeConfig } from '../../addon/core/column-mapping';
import { funnelFrom, type Funnel } from '../../addon/core/funnel';
import { assignRowKeys } from '../../addon/core/row-key';
import { selectRows } from '../../addon/core/row-selection';
import type { MessageItem, RowRejection, RowUpload } from '../../addon/core/service-contract';
import { STATUS_FIELDS, type StatusLayout } from '../../addon/core/status-columns';
import { mergeMessageItems } from '../../addon/core/sync-merge';
import { chunk, pendingMarks, REJECTED_STATUS } from '../../addon/core/upload-plan';
import { formatCsv, lineBreakOf, parseCsv } from './csv';
import { CsvSheet } from './csv-sheet';
import type { CampaignView, DemoClient } from './demo-client';
import { renderFunnel } from './funnel-table';
import { ProgressLine, renderProgress, type ProgressOutput } from './progress-bar';

export interface DemoRunOptions {
  client: DemoClient;
  inputPath: string;
  /** Where the copy with filled status columns goes; the input is never written. */
  outputPath: string;
  compose: ComposeConfig;
  /** Numbers put on the account's opt-out list before the send (as typed; the service normalises them). */
  optedOut?: readonly string[];
  /** Progress, the funnel and the summary lines. */
  out: ProgressOutput;
  /** How often the campaign's counts are read. Default 250 ms. */
  pollIntervalMs?: number;
  /** Once every row is settled, receipts count as done when the counts have not changed for this long. Default 2 s. */
  quietMs?: number;
  /** Longest wait for receipts after every row settled. Default 30 s. */
  settleTimeoutMs?: number;
  /** Longest wait for the rows to be sent. Default 5 minutes. */
  sendTimeoutMs?: number;
  /** Randomness for new row keys (Math.random by default). */
  random?: () => number;
}

export interface DemoRunResult {
  campaignId: string;
  /** Data rows in the CSV. */
  rows: number;
  withoutPhone: number;
  rejected: RowRejection[];
  funnel: Funnel;
  /** The campaign as last read, null when nothing was accepted and the campaign was cancelled. */
  campaign: CampaignView | null;
  /** Every change the feed returned, oldest first (the last one per key is the row's state). */
  messages: MessageItem[];
  /** False when the wait ended on a timeout or a paused/cancelled campaign rather than on quiet counts. */
  isSettled: boolean;
  /** From reading the CSV to writing the copy. */
  elapsedMs: number;
}

/** Runs the whole send. Throws when the template is missing or the columns do not fit it, and on service errors. */
export async function runDemo(o: DemoRunOptions): Promise<DemoRunResult> {
  const startedMs = performance.now();
  const say = (line: string): void => void o.out.write(`${line}\n`);
  const text = await readFile(o.inputPath, 'utf8');
  const sheet = new CsvSheet(parseCsv(text));
  const { compose, client } = o;

  const template = (await client.templates())
    .find((t) => t.name === compose.template.name && t.language === compose.template.language);
  if (!template) throw new Error(`The template "${compose.template.name}" (${compose.template.language}) is not approved on this account.`);
  const problems = findMappingProblems(compose, template, sheet.headers);
  if (problems.length > 0) throw new Error(problems.join(' '));

  const layout = sheet.ensureStatusColumns();
  const index = headerIndex(sheet.headers);
  const phoneAt = index.get(compose.phoneColumn.trim().toLowerCase())!;
  const keyCells = sheet.rows.map((r) => r[layout.key]);
  const selected = selectRows({
    mode: compose.selection, rowCount: sheet.rows.length, phones: sheet.rows.map((r) => r[phoneAt]), keys: keyCells,
  });
  const withoutPhone = sheet.rows.filter((r) => String(r[phoneAt] ?? '').trim() === '').length;
  say(`Sending ${shown(o.inputPath)}: ${count(sheet.rows.length)} rows, template ${template.name} (${template.language}), `
    + `default country ${compose.defaultCountry ?? 'none'}.`);
  if (selected.length === 0) throw new Error(`No rows to send: the column "${compose.phoneColumn}" is empty.`);

  for (const to of o.optedOut ?? []) await client.addSuppression(to);
  const suppressedBefore = await client.suppressionCount();
  if ((o.optedOut ?? []).length > 0) {
    say(`Opt-out list: ${o.optedOut!.join(', ')} put on it before the send (${numbers(suppressedBefore)} on the list).`);
  }

  const campaign = await client.createCampaign({
    name: compose.campaignName?.trim() || `${shown(o.inputPath)} – ${compose.sheetName}`,
    template: compose.template,
    ...(compose.defaultCountry ? { defaultCountry: compose.defaultCountry } : {}),
  });
  // As the add-on does: keys and the pending mark first, then the upload turns each row into queued or rejected.
  const { keys } = assignRowKeys(keyCells, selected, o.random ?? Math.random);
  sheet.write(pendingMarks(layout, selected, keys));
  const uploads: RowUpload[] = selected.map((r) => buildRowUpload(sheet.rows[r]!, keys.get(r)!, index, compose));
  const upload = await uploadRows(client, campaign.id, uploads, new Map(selected.map((r) => [keys.get(r)!, r])), layout);
  sheet.write(upload.cells);
  const rejectedByCode = tally(upload.rejected.map((x) => x.code));
  say(`Uploaded ${count(uploads.length)} rows in ${count(upload.requests)} request${upload.requests === 1 ? '' : 's'}: `
    + `${count(upload.accepted)} queued, ${count(upload.rejected.length)} rejected`
    + `${upload.rejected.length > 0 ? ` (${[...rejectedByCode].map(([c, k]) => `${c} ×${k}`).join(', ')})` : ''}`
    + `${withoutPhone > 0 ? `; ${count(withoutPhone)} rows without a phone left out` : ''}.`);

  let view: CampaignView | null = null;
  let isSettled = true;
  let messages: MessageItem[] = [];
  let suppressedAfter: number | null = null;
  if (upload.accepted + upload.duplicates === 0) {
    await client.setState(campaign.id, 'cancel');
    say('Nothing the service could send: the campaign was cancelled.');
  } else {
    await client.setState(campaign.id, 'start');
    const watched = await watchCampaign(o, campaign.id);
    view = watched.campaign;
    isSettled = watched.isSettled;
    if (watched.note) say(watched.note);
    messages = await client.allMessages(campaign.id);
    suppressedAfter = await client.suppressionCount();
    sheet.write(mergeMessageItems(messages, sheet.rows, layout).updates);
  }
  await writeFile(o.outputPath, formatCsv(sheet.toRecords(), lineBreakOf(text)));

  const latest = new Map(messages.map((m) => [m.key, m]));
  const failedByCode = tally([...latest.values()].filter((m) => m.status === 'failed').map((m) => m.error?.code ?? 'unknown'));
  const funnel = funnelFrom(view?.counts ?? {});
  say('');
  say(`Funnel (campaign ${campaign.id}):`);
  say(renderFunnel({ rows: sheet.rows.length, withoutPhone, rejectedByCode, funnel, failedByCode }));
  // Each kind of answer first (a STOP, a button tap, a username user's reply), then the rest in row order.
  const replied = [...latest.values()].filter((m) => m.reply !== null);
  const firstOfText = new Set(new Map(replied.map((m) => [m.reply!.text, m] as const).reverse()).values());
  const replies = [...replied.filter((m) => firstOfText.has(m)), ...replied.filter((m) => !firstOfText.has(m))];
  if (replies.length > 0) {
    const rowOf = new Map([...keys].map(([row, key]) => [key, row]));
    say(`\nReplies, each on its row (${count(replies.length)}; people with a username write without their number, `
      + 'and are found by their business-scoped user id):');
    for (const m of replies.slice(0, SHOWN_REPLIES)) {
      const row = rowOf.get(m.key);
      const phone = row === undefined ? m.to : String(sheet.rows[row]?.[phoneAt] ?? m.to);
      say(`  row ${row === undefined ? '?' : count(row + 2)}  ${phone}${m.userId ? ` (${m.userId})` : ''}: ${JSON.stringify(m.reply!.text)}`);
    }
    if (replies.length > SHOWN_REPLIES) say(`  … and ${count(replies.length - SHOWN_REPLIES)} more in the results.`);
  }
  if (suppressedAfter !== null && suppressedAfter !== suppressedBefore) {
    say(`\nOpt-out list: ${numbers(suppressedBefore)} before the send, ${numbers(suppressedAfter)} after `
      + '(STOP replies, "Stop promotions" taps and Meta marketing stops add to it).');
  }
  say('');
  const statusHeaders = STATUS_FIELDS.map((f) => sheet.headers[layout[f]]).join(', ');
  say(`Results: ${shown(o.outputPath)} (${statusHeaders} filled as the add-on fills them).`);
  return {
    campaignId: campaign.id, rows: sheet.rows.length, withoutPhone, rejected: upload.rejected, funnel, campaign: view,
    messages, isSettled, elapsedMs: performance.now() - startedMs,
  };
}

interface UploadOutcome {
  accepted: number;
  duplicates: number;
  rejected: RowRejection[];
  requests: number;
  /** Status cells per data row: `queued`, or `rejected` with the reason, as the add-on's send job writes them. */
  cells: Map<number, Map<number, unknown>>;
}

/** Posts the rows in chunks of at most 5,000, one request after another. */
async function uploadRows(
  client: DemoClient, campaignId: string, uploads: readonly RowUpload[], rowOfKey: ReadonlyMap<string, number>, layout: StatusLayout,
): Promise<UploadOutcome> {
  const outcome: UploadOutcome = { accepted: 0, duplicates: 0, rejected: [], requests: 0, cells: new Map() };
  // Taken before the first request, so every change the service stamps later is newer than these cells.
  const stamp = new Date().toISOString();
  for (const part of chunk(uploads)) {
    const answer = await client.uploadRows(campaignId, part);
    outcome.requests += 1;
    outcome.accepted += answer.accepted;
    outcome.duplicates += answer.duplicates;
    outcome.rejected.push(...answer.rejected);
    const rejected = new Map(answer.rejected.map((x) => [x.key, x]));
    for (const u of part) {
      const no = rejected.get(u.key);
      outcome.cells.set(rowOfKey.get(u.key)!, new Map<number, unknown>([
        [layout.status, no ? REJECTED_STATUS : 'queued'],
        [layout.error, no ? `${no.message} (${no.code})` : ''],
        [layout.updated, stamp],
      ]));
    }
  }
  return outcome;
}

/**
 * Reads the campaign until every row is settled and its counts have been still for `quietMs` (delivered, read and
 * replies arrive by webhook after the sends), redrawing the progress line on each read.
 */
async function watchCampaign(o: DemoRunOptions, campaignId: string): Promise<{ campaign: CampaignView; isSettled: boolean; note: string | null }> {
  const pollMs = o.pollIntervalMs ?? 250;
  const quietMs = o.quietMs ?? 2000;
  const settleTimeoutMs = o.settleTimeoutMs ?? 30_000;
  const sendTimeoutMs = o.sendTimeoutMs ?? 300_000;
  const line = new ProgressLine(o.out);
  const startedMs = performance.now();
  let lastCounts = '';
  let changedAtMs = startedMs;
  let settledAtMs: number | null = null;
  for (;;) {
    const campaign = await o.client.campaign(campaignId);
    const nowMs = performance.now();
    const funnel = funnelFrom(campaign.counts);
    const counts = JSON.stringify(campaign.counts);
    if (counts !== lastCounts) {
      lastCounts = counts;
      changedAtMs = nowMs;
    }
    // Rows held back by Meta's frequency cap (131049) wait a day for their retry: the campaign says so, and the
    // demo does not wait for them.
    const isWaitingForCap = campaign.state === 'running' && campaign.stateReason?.code === 'frequency_cap';
    const isSending = funnel.progress < 1 && !isWaitingForCap;
    if (!isSending) settledAtMs ??= nowMs;
    const text = renderProgress({ phase: isSending ? 'sending' : 'receipts', funnel, elapsedMs: nowMs - startedMs });
    const end = (isSettled: boolean, note: string | null) => {
      line.finish(text);
      return { campaign, isSettled, note };
    };
    if (campaign.state === 'paused' || campaign.state === 'cancelled') {
      return end(false, `The campaign is ${campaign.state}${campaign.stateReason ? `: ${campaign.stateReason.message}` : ''}.`);
    }
    if (settledAtMs !== null && nowMs - changedAtMs >= quietMs) return end(true, isWaitingForCap ? campaign.stateReason!.message : null);
    if (settledAtMs !== null && nowMs - settledAtMs >= settleTimeoutMs) {
      return end(false, `Receipts were still arriving ${seconds(settleTimeoutMs)} after the last send; the results show them as they were.`);
    }
    if (settledAtMs === null && nowMs - startedMs >= sendTimeoutMs) {
      return end(false, `Rows were still queued after ${seconds(sendTimeoutMs)}; the results show them as they were.`);
    }
    line.update(text, nowMs);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/** Reply lines printed after the funnel; the rest are in the results file. */
const SHOWN_REPLIES = 12;

function tally(codes: readonly string[]): Map<string, number> {
  const map = new Map<string, number>();
  for (const c of codes) map.set(c, (map.get(c) ?? 0) + 1);
  return map;
}

function shown(path: string): string {
  const r = relative(process.cwd(), path);
  return r === '' || r.startsWith('..') ? path : r;
}

function count(value: number): string {
  return value.toLocaleString('en-US');
}

function numbers(value: number): string {
  return `${count(value)} ${value === 1 ? 'number' : 'numbers'}`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(0)} s`;
}
