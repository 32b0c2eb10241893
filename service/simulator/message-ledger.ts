// The ledger of every message the simulator accepted: what tests read to prove exactly-once delivery.
// Stored column-wise in typed arrays (about 30 bytes a message plus the callback string) because benchmarks send millions.

import { randomBytes } from 'node:crypto';

/** One accepted message. */
export interface LedgerEntry {
  wamid: string;
  phoneNumberId: string;
  /** The resolved recipient's phone digits (`wa_id`), also for a send by BSUID; `""` for an unknown BSUID. */
  to: string;
  /** The recipient's BSUID in the number's portfolio at send time (the `recipient` itself for an unknown one). */
  userId: string;
  /** The send was addressed by `recipient` (a BSUID) rather than `to`. */
  isAddressedByUserId: boolean;
  /** `marketing_messages` for a send through the Marketing Messages API. */
  endpoint: 'messages' | 'marketing_messages';
  bizOpaqueCallbackData: string | undefined;
  /** Template name; `""` for a text message. */
  templateName: string;
  /** Epoch milliseconds. */
  acceptedAt: number;
}

/** Interns repeated strings (numbers, template names) to small integers. */
class StringTable {
  private readonly ids = new Map<string, number>();
  readonly values: string[] = [];

  id(value: string): number {
    let id = this.ids.get(value);
    if (id === undefined) {
      id = this.values.length;
      this.values.push(value);
      this.ids.set(value, id);
    }
    return id;
  }
}

const INITIAL_CAPACITY = 1024;

/**
 * Append-only until `clear()`. Wamids are `wamid.HBgL<run id>_<sequence>`: unique across simulator restarts
 * (random run id) and decodable back to the ledger row without an index.
 */
export class MessageLedger {
  private readonly runId = randomBytes(6).toString('base64url');
  private readonly numbers = new StringTable();
  private readonly templates = new StringTable();
  private capacity = INITIAL_CAPACITY;
  private numberIds = new Uint32Array(INITIAL_CAPACITY);
  private templateIds = new Uint32Array(INITIAL_CAPACITY);
  /** Recipient digits as a number (15 digits fit a double exactly); NaN when a leading zero forbids it. */
  private recipients = new Float64Array(INITIAL_CAPACITY);
  private acceptedAts = new Float64Array(INITIAL_CAPACITY);
  private callbackData: (string | undefined)[] = [];
  /** References to the directory's strings, so a row costs a pointer, not a copy. */
  private userIds: string[] = [];
  /** Bit 0: addressed by BSUID; bit 1: Marketing Messages API. */
  private flags = new Uint8Array(INITIAL_CAPACITY);
  private readonly oddRecipients = new Map<number, string>();
  /** Sequence number of row 0; sequences keep growing across `clear()` so wamids never repeat. */
  private firstSeq = 0;
  private length = 0;

  get size(): number {
    return this.length;
  }

  /** Records an accepted message and returns its new wamid. */
  append(
    phoneNumberId: string,
    to: string,
    bizOpaqueCallbackData: string | undefined,
    templateName: string,
    acceptedAt: number,
    recipient: { userId: string; isAddressedByUserId: boolean; endpoint: LedgerEntry['endpoint'] } = { userId: '', isAddressedByUserId: false, endpoint: 'messages' },
  ): string {
    if (this.length === this.capacity) this.grow();
    const row = this.length++;
    this.numberIds[row] = this.numbers.id(phoneNumberId);
    this.templateIds[row] = this.templates.id(templateName);
    this.userIds.push(recipient.userId);
    this.flags[row] = (recipient.isAddressedByUserId ? 1 : 0) | (recipient.endpoint === 'marketing_messages' ? 2 : 0);
    if (to === '' || to.charCodeAt(0) === 48 /* '0' */) {
      this.recipients[row] = Number.NaN;
      this.oddRecipients.set(row, to);
    } else this.recipients[row] = Number(to);
    this.acceptedAts[row] = acceptedAt;
    this.callbackData.push(bizOpaqueCallbackData);
    return `wamid.HBgL${this.runId}_${(this.firstSeq + row).toString(36)}`;
  }

  /** The row of a wamid this ledger issued since the last `clear()`, else undefined. */
  find(wamid: string): LedgerEntry | undefined {
    const prefix = `wamid.HBgL${this.runId}_`;
    if (!wamid.startsWith(prefix)) return undefined;
    const row = Number.parseInt(wamid.slice(prefix.length), 36) - this.firstSeq;
    return row >= 0 && row < this.length ? this.entry(row) : undefined;
  }

  /** Rows `offset` to `offset + limit - 1`, oldest first. */
  entries(offset = 0, limit = this.length): LedgerEntry[] {
    const end = Math.min(this.length, offset + limit);
    const out: LedgerEntry[] = [];
    for (let row = Math.max(0, offset); row < end; row++) out.push(this.entry(row));
    return out;
  }

  /** Accepted messages per `biz_opaque_callback_data` (messages without one are counted under `""`). */
  countsByCallbackData(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const data of this.callbackData) {
      const key = data ?? '';
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    return counts;
  }

  /** Callback data accepted more than once: the evidence against exactly-once delivery. */
  duplicates(): { bizOpaqueCallbackData: string; count: number }[] {
    const out: { bizOpaqueCallbackData: string; count: number }[] = [];
    for (const [key, count] of this.countsByCallbackData()) {
      if (count > 1 && key !== '') out.push({ bizOpaqueCallbackData: key, count });
    }
    return out;
  }

  /**
   * Accepted messages per (number, person, template) sent more than once: a person is their phone digits whether
   * the sends went to `to` or to `recipient`, so a phone send and a BSUID send to the same person show up here.
   */
  duplicateRecipients(): { phoneNumberId: string; to: string; templateName: string; count: number; wamids: string[] }[] {
    const groups = new Map<string, { phoneNumberId: string; to: string; templateName: string; wamids: string[] }>();
    for (let row = 0; row < this.length; row++) {
      const entry = this.entry(row);
      const person = entry.to || entry.userId;
      const key = `${entry.phoneNumberId}|${person}|${entry.templateName}`;
      let group = groups.get(key);
      if (!group) groups.set(key, (group = { phoneNumberId: entry.phoneNumberId, to: person, templateName: entry.templateName, wamids: [] }));
      group.wamids.push(entry.wamid);
    }
    return [...groups.values()].filter((g) => g.wamids.length > 1).map((g) => ({ ...g, count: g.wamids.length }));
  }

  /** Forgets every row and releases the memory; wamids issued later stay distinct from earlier ones. */
  clear(): void {
    this.firstSeq += this.length;
    this.length = 0;
    this.capacity = INITIAL_CAPACITY;
    this.numberIds = new Uint32Array(INITIAL_CAPACITY);
    this.templateIds = new Uint32Array(INITIAL_CAPACITY);
    this.recipients = new Float64Array(INITIAL_CAPACITY);
    this.acceptedAts = new Float64Array(INITIAL_CAPACITY);
    this.callbackData = [];
    this.userIds = [];
    this.flags = new Uint8Array(INITIAL_CAPACITY);
    this.oddRecipients.clear();
  }

  private entry(row: number): LedgerEntry {
    const recipient = this.recipients[row]!;
    return {
      wamid: `wamid.HBgL${this.runId}_${(this.firstSeq + row).toString(36)}`,
      phoneNumberId: this.numbers.values[this.numberIds[row]!]!,
      to: Number.isNaN(recipient) ? this.oddRecipients.get(row)! : String(recipient),
      userId: this.userIds[row]!,
      isAddressedByUserId: (this.flags[row]! & 1) !== 0,
      endpoint: (this.flags[row]! & 2) !== 0 ? 'marketing_messages' : 'messages',
      bizOpaqueCallbackData: this.callbackData[row],
      templateName: this.templates.values[this.templateIds[row]!]!,
      acceptedAt: this.acceptedAts[row]!,
    };
  }

  private grow(): void {
    this.capacity *= 2;
    const numberIds = new Uint32Array(this.capacity);
    numberIds.set(this.numberIds);
    this.numberIds = numberIds;
    const templateIds = new Uint32Array(this.capacity);
    templateIds.set(this.templateIds);
    this.templateIds = templateIds;
    const recipients = new Float64Array(this.capacity);
    recipients.set(this.recipients);
    this.recipients = recipients;
    const acceptedAts = new Float64Array(this.capacity);
    acceptedAts.set(this.acceptedAts);
    this.acceptedAts = acceptedAts;
    const flags = new Uint8Array(this.capacity);
    flags.set(this.flags);
    this.flags = flags;
  }
}
