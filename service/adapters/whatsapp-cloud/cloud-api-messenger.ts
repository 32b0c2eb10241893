// Sends template messages to the WhatsApp Cloud API over keep-alive HTTP (undici), and says plainly whether the
// message was accepted, refused, never left, or is in doubt. Never throws per message; never retries (the domain does).
import { Agent, errors as undiciErrors } from 'undici';
import { usesMarketingMessagesApi, type Messenger, type SenderCredentials, type SendRequest, type SendResult } from '../../campaigns/ports';
import { isBusinessScopedUserId } from '../../campaigns/business-scoped-user-id';
import { GraphEndpoint } from './graph-endpoint';

/** Transport errors raised before any byte of the request could reach the server: safe to send again. */
const NEVER_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

/**
 * The two edges a template goes to: a MARKETING template of a sender with the option on goes to the Marketing
 * Messages API (same payload and answer, plus `message_status`; CLOUD_API.md §13), everything else to `/messages`.
 */
const MESSAGES_EDGE = '/messages';
const MARKETING_MESSAGES_EDGE = '/marketing_messages';

export interface CloudApiMessengerOptions {
  endpoint: GraphEndpoint;
  /** Longest wait for Meta's answer; past it the send is in doubt, never re-sent blindly. */
  timeoutMs?: number;
  /** Sockets per origin. */
  connections?: number;
}

export class CloudApiMessenger implements Messenger {
  private readonly agent: Agent;
  private readonly endpoint: GraphEndpoint;
  private readonly timeoutMs: number;
  /** Origin and path prefix per base URL, parsed once: a send then skips URL parsing (it runs thousands of times a second). */
  private readonly targets = new Map<string, { origin: string; basePath: string }>();

  constructor(options: CloudApiMessengerOptions) {
    this.endpoint = options.endpoint;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.agent = new Agent({ connections: options.connections ?? 128, keepAliveTimeout: 4_000, pipelining: 1 });
  }

  send(sender: SenderCredentials, message: SendRequest): Promise<SendResult> {
    const target = this.targetFor(this.endpoint.baseFor(sender.isSandbox));
    const body = JSON.stringify({
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      // A row named by business-scoped user id goes by `recipient` (CLOUD_API.md §11); with both, Meta takes `to`.
      ...(isBusinessScopedUserId(message.to) ? { recipient: message.to } : { to: message.to }),
      type: 'template',
      template: { name: message.template.name, language: { code: message.template.language }, components: message.components },
      biz_opaque_callback_data: message.callbackData,
    });
    // undici's lowest-level API (Dispatcher.dispatch with a handler): the answer is a few hundred bytes, so its
    // chunks are collected as they come, without the Readable stream and promises that `request()` builds per call.
    return new Promise((resolve) => {
      let isWithheld = false;
      let statusCode = 0;
      const chunks: Buffer[] = [];
      this.agent.dispatch({
        origin: target.origin,
        path: `${target.basePath}/${encodeURIComponent(sender.phoneNumberId)}${usesMarketingMessagesApi(sender, message) ? MARKETING_MESSAGES_EDGE : MESSAGES_EDGE}`,
        method: 'POST',
        headers: { authorization: `Bearer ${sender.accessToken}`, 'content-type': 'application/json' },
        body,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      }, {
        // undici calls this synchronously just before it writes the request to its socket, also when the request
        // waited for a connection to open: the last point where the sender can still keep it from leaving.
        onConnect: (abort: (error?: Error) => void) => {
          if (message.mayLeave()) return;
          isWithheld = true;
          abort();
        },
        onHeaders: (status: number) => {
          statusCode = status;
          return true;
        },
        onData: (chunk: Buffer) => {
          chunks.push(chunk);
          return true;
        },
        onComplete: () => {
          const text = chunks.length === 1 ? (chunks[0] as Buffer).toString('utf8') : Buffer.concat(chunks).toString('utf8');
          resolve(readSendResponse(statusCode, text));
        },
        // Before the answer: never sent or in doubt (transportFailure tells which). During the body: Meta answered
        // but the wamid is lost, so the send is in doubt too.
        onError: (error: Error) => resolve(isWithheld ? { kind: 'withheld' } : transportFailure(error)),
      });
    });
  }

  private targetFor(base: string): { origin: string; basePath: string } {
    let target = this.targets.get(base);
    if (!target) {
      const url = new URL(base);
      target = { origin: url.origin, basePath: url.pathname.replace(/\/+$/, '') };
      this.targets.set(base, target);
    }
    return target;
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

function transportFailure(error: unknown): SendResult {
  const code = (error as { code?: string; cause?: { code?: string } }).code
    ?? (error as { cause?: { code?: string } }).cause?.code ?? '';
  const reason = `${code || 'error'}: ${(error as Error).message ?? String(error)}`;
  if (NEVER_SENT_CODES.has(code)) return { kind: 'not_sent', reason };
  if (error instanceof undiciErrors.ConnectTimeoutError) return { kind: 'not_sent', reason };
  return { kind: 'no_answer', reason };
}

/**
 * Reads a Cloud API answer: the wamid on success, Meta's error code otherwise (CLOUD_API.md 1.4 and 4). The same for
 * both edges: `/marketing_messages` adds `messages[0].message_status` ("accepted"), which changes nothing here.
 */
export function readSendResponse(statusCode: number, text: string): SendResult {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = null;
  }
  if (statusCode >= 200 && statusCode < 300) {
    const wamid = (json as { messages?: { id?: unknown }[] } | null)?.messages?.[0]?.id;
    if (typeof wamid === 'string' && wamid !== '') return { kind: 'accepted', wamid };
    // A 2xx without a message id: Meta may well have it, so it is in doubt rather than failed.
    return { kind: 'no_answer', reason: `HTTP ${statusCode} without a message id` };
  }
  const error = (json as { error?: { code?: unknown; message?: unknown; error_data?: { details?: unknown } } } | null)?.error;
  if (!error && statusCode >= 500) {
    // A gateway error with no Graph error body: the request may have reached Meta.
    return { kind: 'no_answer', reason: `HTTP ${statusCode} without a Graph error body` };
  }
  const details = typeof error?.error_data?.details === 'string' ? error.error_data.details : null;
  return {
    kind: 'error',
    httpStatus: statusCode,
    code: typeof error?.code === 'number' ? error.code : null,
    message: details ?? (typeof error?.message === 'string' ? error.message : `HTTP ${statusCode}`),
  };
}
