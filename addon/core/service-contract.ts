// Wire types of the service's HTTP API (API.md) as the add-on uses them. Types only: no runtime code, and the imports
// are type-only (what the service shares, defined once in contract/), so the server bundle, the sidebar and the tests
// can all share them without pulling anything in.
import type { MessageItem } from '../../contract/message-item';
import type { MessageStatus } from '../../contract/message-status-words';

/** Per-row message status words (API.md "Message status words"). */
export type { MessageStatus };

/** Campaign states (API.md "Campaign states"). */
export type CampaignState = 'draft' | 'scheduled' | 'running' | 'paused' | 'finished' | 'cancelled';

/** `{"error": {"code", "message"}}`: every 4xx/5xx body the service sends. */
export interface ServiceErrorBody {
  error: { code: string; message: string };
}

/** `GET /v1/account`. */
export interface Account {
  id: string;
  name: string;
  sandbox: boolean;
  phoneNumberId: string | null;
  messagesPerSecond: number;
  dailyLimit: number | null;
  defaultCountry: string | null;
  webhookUrl: string;
  /** The address the marketer shares the sheet with so the service writes results back itself; null without one. */
  serviceAccountEmail?: string | null;
  /** What Meta's management webhooks said (API.md "Account health"); absent from services that predate it. */
  health?: AccountHealth | null;
}

/** `GET /v1/account` `health`: each part null until Meta said something. */
export interface AccountHealth {
  quality: { rating: string; at: string } | null;
  messagingLimit: { tier: string; dailyLimit: number | null; at: string } | null;
  restriction: { type: string; detail: string; expiresAt: string | null; at: string } | null;
  events: { type: string; detail: string; at: string }[];
}

/** Why a campaign is paused or waiting, in the service's words (`template_paused`, `account_restricted`…). */
export interface StateReason {
  code: string;
  message: string;
}

export type TemplateComponent = 'header' | 'body' | 'button';

export interface TemplateParameter {
  /** `"1"`, `"2"`… (positional), the placeholder's name (named), `"header"`, or `"button:N"`. */
  key: string;
  component: TemplateComponent;
  example?: string | null;
}

export type HeaderMediaType = 'image' | 'video' | 'document';

/** One approved template of `GET /v1/templates`. */
export interface Template {
  name: string;
  language: string;
  category: string;
  status: string;
  parameterFormat: 'positional' | 'named';
  parameters: TemplateParameter[];
  /** Optional extras a service may add: the header's format and the body text with its placeholders. */
  headerFormat?: 'text' | HeaderMediaType | 'none' | null;
  body?: string | null;
}

export interface TemplateRef {
  name: string;
  language: string;
}

export interface HeaderMedia {
  type: HeaderMediaType;
  link: string;
}

/** One row of `POST /v1/campaigns/:id/rows` and `POST /v1/preview`. */
export interface RowUpload {
  key: string;
  to: string;
  params: Record<string, string>;
  headerMedia?: HeaderMedia;
}

export interface SheetRef {
  spreadsheetId: string;
  sheetName: string;
}

export interface CreateCampaignRequest {
  name: string;
  template: TemplateRef;
  sendAt?: string;
  defaultCountry?: string;
  sheet?: SheetRef;
}

export interface RowRejection {
  key: string;
  code: string;
  message: string;
}

/** Answer of `POST /v1/campaigns/:id/rows`. */
export interface RowsResult {
  accepted: number;
  duplicates: number;
  rejected: RowRejection[];
}

/** `GET /v1/campaigns/:id`. `counts` holds one entry per status word plus `replied`. */
export interface Campaign {
  id: string;
  name: string;
  state: CampaignState;
  template: TemplateRef;
  sendAt: string | null;
  createdAt: string;
  finishedAt: string | null;
  counts: Partial<Record<MessageStatus | 'replied', number>>;
  stateReason?: StateReason | null;
}

/** One item of `GET /v1/campaigns/:id/messages`. */
export type { MessageItem };

export interface MessagesPage {
  items: MessageItem[];
  /** Cursor for `after=`; keep it to see only later changes next time. */
  next: string | null;
}

export interface PreviewRequest {
  template: TemplateRef;
  defaultCountry?: string;
  rows: RowUpload[];
}

/** One row of `POST /v1/preview`'s answer. `error` is a code/message pair; older builds sent a bare string. */
export interface PreviewRow {
  key: string;
  to: string;
  ok: boolean;
  error?: { code: string; message: string } | string | null;
  text: string;
}

export interface PreviewResponse {
  rows: PreviewRow[];
}

export interface TestSendRequest {
  to: string;
  template: TemplateRef;
  params: Record<string, string>;
  headerMedia?: HeaderMedia;
}

export interface TestSendResult {
  status: string;
  wamid?: string;
  error?: { code: string; message: string } | null;
}
