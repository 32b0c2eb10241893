// The account export (right of access / portability): every record held for an account as one JSON document,
// written piece by piece as the snapshot is read, waiting whenever the reader falls behind. No secrets, no hashes.
import type { Account, Campaign } from '../campaigns/ports';
import { healthAsJson } from '../webhooks/account-health';
import type { AccountSnapshot, ExportedMessage, ExportedSuppression, ExportedWebhook } from './privacy-ports';

/** Where the document goes. `write` resolves when more may be written and rejects when the reader has gone. */
export interface ExportSink {
  write(chunk: string): Promise<void>;
}

export interface ExportOptions {
  /** Characters gathered before a write; bigger chunks mean fewer writes, smaller ones less memory. */
  chunkChars: number;
}

const DEFAULT_CHUNK_CHARS = 64 * 1024;

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

function exportedAccount(a: Account): Record<string, unknown> {
  return {
    id: a.id,
    name: a.name,
    sandbox: a.isSandbox,
    phoneNumberId: a.phoneNumberId,
    wabaId: a.wabaId,
    messagesPerSecond: a.messagesPerSecond,
    dailyLimit: a.dailyLimit,
    defaultCountry: a.defaultCountry,
    retentionDays: a.retentionDays,
    optOutWords: a.optOutWords,
    createdAt: iso(a.createdAt),
  };
}

function exportedCampaign(c: Campaign): Record<string, unknown> {
  return {
    id: c.id,
    name: c.name,
    template: c.template,
    templateDefinition: c.templateDefinition,
    sendAt: iso(c.sendAt),
    defaultCountry: c.defaultCountry,
    sheet: c.sheet,
    state: c.state,
    stateReason: c.stateReason,
    createdAt: iso(c.createdAt),
    startedAt: iso(c.startedAt),
    finishedAt: iso(c.finishedAt),
  };
}

function exportedMessage(m: ExportedMessage): Record<string, unknown> {
  return {
    campaignId: m.campaignId,
    key: m.key,
    to: m.to,
    status: m.status,
    params: m.params,
    headerMedia: m.headerMedia,
    wamid: m.wamid,
    error: m.error,
    attempts: m.attempts,
    sentAt: iso(m.sentAt),
    reply: m.reply ? { text: m.reply.text, at: iso(m.reply.at) } : null,
    updatedAt: iso(m.updatedAt),
  };
}

function exportedSuppression(s: ExportedSuppression): Record<string, unknown> {
  return { ...(s.to !== null ? { to: s.to } : {}), ...(s.userId !== null ? { userId: s.userId } : {}), source: s.source, createdAt: iso(s.createdAt) };
}

function exportedWebhook(w: ExportedWebhook): Record<string, unknown> {
  let body: unknown = w.body;
  try {
    body = JSON.parse(w.body);
  } catch {
    // Kept as text: it is what was received.
  }
  return { receivedAt: iso(w.receivedAt), body };
}

/**
 * Writes `{exportedAt, account, campaigns: [...], messages: [...], suppressions: [...], recipientIds: [...],
 * pendingWebhooks: [...], health}` to
 * `sink`, reading the snapshot lazily: at most about one chunk of text is held at a time, and no row is read while
 * a full chunk waits for the sink. Closes the snapshot when done or when the sink rejects (the rejection is passed
 * on, not hidden by a failing close).
 */
export async function writeAccountExport(
  snapshot: AccountSnapshot,
  sink: ExportSink,
  nowMs: number,
  options: Partial<ExportOptions> = {},
): Promise<void> {
  const chunkChars = options.chunkChars ?? DEFAULT_CHUNK_CHARS;
  let buffer = '';
  // The sink is awaited only when a chunk is full, so a million rows cost a few hundred writes, not a million.
  const flush = (): Promise<void> => {
    const chunk = buffer;
    buffer = '';
    return sink.write(chunk);
  };
  const putArray = async <T>(name: string, rows: AsyncIterable<T>, present: (row: T) => unknown): Promise<void> => {
    buffer += `,${JSON.stringify(name)}:[`;
    let separator = '';
    // Leaving the loop early (the sink rejected) returns the iterator, which ends the snapshot's read of the rows.
    for await (const row of rows) {
      buffer += separator + JSON.stringify(present(row));
      separator = ',';
      if (buffer.length >= chunkChars) await flush();
    }
    buffer += ']';
  };
  try {
    buffer += `{"exportedAt":${JSON.stringify(iso(nowMs))},"account":${JSON.stringify(exportedAccount(snapshot.account))}`;
    await putArray('campaigns', snapshot.campaigns(), exportedCampaign);
    await putArray('messages', snapshot.messages(), exportedMessage);
    await putArray('suppressions', snapshot.suppressions(), exportedSuppression);
    await putArray('recipientIds', snapshot.recipientIds(), (r) => ({ userId: r.userId, to: r.to, updatedAt: iso(r.updatedAt) }));
    await putArray('pendingWebhooks', snapshot.pendingWebhooks(), exportedWebhook);
    if (snapshot.health) buffer += `,"health":${JSON.stringify(healthAsJson(snapshot.health))}`;
    buffer += '}\n';
    await sink.write(buffer);
  } catch (error) {
    await snapshot.close().catch(() => undefined);
    throw error;
  }
  await snapshot.close();
}
