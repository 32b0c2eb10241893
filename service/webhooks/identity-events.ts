// Who is who: the phone ↔ BSUID pairs a webhook body carries, and the changes of number or BSUID Meta announces.
// Statuses of our own sends (sent, delivered, read) name both the number and the BSUID; failed ones carry no
// contacts block (CLOUD_API.md §11), so the pairs are learnt from the others and from inbound messages' contacts.
import type { RecipientIdentity } from '../campaigns/business-scoped-user-id';
import type { IdentityChange } from '../campaigns/ports';
import type { MetaEvent } from './meta-events';
import { recipientVariants } from './recipient-variants';

type Json = Record<string, unknown>;

/** Every pair named in the events, once per BSUID (the last number named wins: bodies list people once anyway). */
export function identitiesIn(events: readonly MetaEvent[]): RecipientIdentity[] {
  const byUserId = new Map<string, string | null>();
  const note = (userId: string | null, waId: string | null): void => {
    if (userId === null) return;
    if (waId !== null || !byUserId.has(userId)) byUserId.set(userId, waId ?? byUserId.get(userId) ?? null);
  };
  for (const event of events) {
    if (event.kind === 'contact') note(event.userId, event.waId);
    else if (event.kind === 'status') note(event.recipientUserId, event.recipientId);
    else if (event.kind === 'inbound' && event.type !== 'system') note(event.fromUserId, event.from);
    else if (event.kind === 'preference') note(event.userId, event.waId);
  }
  return [...byUserId].map(([userId, waId]) => ({ userId, phones: waId === null ? [] : recipientVariants(waId) }));
}

/**
 * `user_changed_number` and `user_changed_user_id` system messages as identity changes. The 2026 form names the
 * new `user_id` and the `previous_user_id` (and the new `wa_id` when shareable); the older form of a number change
 * came from the old number with the new one in `new_wa_id`. Both are read.
 */
export function identityChangesIn(events: readonly MetaEvent[]): IdentityChange[] {
  const changes: IdentityChange[] = [];
  for (const event of events) {
    if (event.kind !== 'inbound' || event.type !== 'system') continue;
    const system = (event.raw.system ?? {}) as Json;
    if (system.type !== 'user_changed_number' && system.type !== 'user_changed_user_id') continue;
    const text = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
    const previous = [
      ...(text(system.previous_user_id) ? [text(system.previous_user_id) as string] : []),
      ...(event.fromUserId && event.fromUserId !== text(system.user_id) ? [event.fromUserId] : []),
      ...(event.from && system.type === 'user_changed_number' ? recipientVariants(event.from) : []),
    ];
    const newWaId = text(system.wa_id) ?? text(system.new_wa_id);
    const phones = system.type === 'user_changed_number' && newWaId && /^\d{6,15}$/.test(newWaId) ? recipientVariants(newWaId) : [];
    const userId = text(system.user_id);
    if (previous.length === 0 || (userId === null && phones.length === 0)) continue;
    changes.push({ previous: [...new Set(previous)], userId, phones });
  }
  return changes;
}

