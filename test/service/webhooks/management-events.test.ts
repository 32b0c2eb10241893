// Meta-shaped management webhooks (message_template_status_update, template_category_update,
// message_template_quality_update, phone_number_quality_update, account_update, as in Meta's webhook references) read into events, legacy values too.
import { describe, expect, it } from 'vitest';
import { templateReason } from '../../../service/webhooks/account-health';
import {
  dailyLimitOfTier, describeManagementEvent, hasManagementChanges, readManagementEvents, type ManagementEvent,
} from '../../../service/webhooks/management-events';

const WABA = '102290129340398';
const TIME = 1_767_000_000;

function body(field: string, value: unknown, entry: Record<string, unknown> = { id: WABA, time: TIME }): unknown {
  return { object: 'whatsapp_business_account', entry: [{ ...entry, changes: [{ value, field }] }] };
}

function only(payload: unknown): ManagementEvent {
  const { events, skipped } = readManagementEvents(payload);
  expect(skipped).toBe(0);
  expect(events).toHaveLength(1);
  return events[0]!;
}

describe('message_template_status_update', () => {
  it('reads a PAUSED update with other_info, and names the template and what Meta said in the pause reason', () => {
    const event = only(body('message_template_status_update', {
      event: 'PAUSED',
      message_template_id: 1_689_556_908_129_832,
      message_template_name: 'summer_sale',
      message_template_language: 'en_US',
      reason: 'NONE',
      message_template_category: 'MARKETING',
      other_info: { title: 'FIRST_PAUSE', description: 'Your message template has been paused for 3 hours due to low quality.' },
    }));
    expect(event).toMatchObject({
      kind: 'template_status', wabaId: WABA, atMs: TIME * 1000, name: 'summer_sale', language: 'en_US',
      event: 'PAUSED', reason: 'NONE', title: 'FIRST_PAUSE',
    });
    const reason = templateReason(event as Extract<ManagementEvent, { kind: 'template_status' }>);
    expect(reason.code).toBe('template_paused');
    expect(reason.message).toMatch(/^Paused: Meta paused the template summer_sale \(en_US\): PAUSED: FIRST_PAUSE — Your message template has been paused/);
    expect(reason.message).toContain('does not resume');
  });

  it('reads a REJECTED update whose reason is all Meta gives, and lower-case events', () => {
    const event = only(body('message_template_status_update', {
      event: 'rejected', message_template_id: 7, message_template_name: 'promo', message_template_language: 'pt_BR',
      reason: 'INCORRECT_CATEGORY',
    }));
    expect(event).toMatchObject({ event: 'REJECTED', reason: 'INCORRECT_CATEGORY', title: null });
    expect(templateReason(event as Extract<ManagementEvent, { kind: 'template_status' }>).message)
      .toContain('rejected the template promo (pt_BR): REJECTED: INCORRECT_CATEGORY');
  });

  it('counts an update without the template name as skipped', () => {
    const { events, skipped } = readManagementEvents(body('message_template_status_update', { event: 'PAUSED' }));
    expect(events).toEqual([]);
    expect(skipped).toBe(1);
  });
});

describe('template_category_update', () => {
  it('tells the impending form (correct_category) from the completed one (previous_category)', () => {
    const impending = only(body('template_category_update', {
      message_template_id: 1, message_template_name: 'order_update', message_template_language: 'en_US',
      correct_category: 'MARKETING', new_category: 'UTILITY', category_update_timestamp: TIME + 86_400,
    }));
    expect(impending).toMatchObject({
      kind: 'template_category', stage: 'impending', previousCategory: 'UTILITY', newCategory: 'MARKETING',
      effectiveAtMs: (TIME + 86_400) * 1000,
    });
    const completed = only(body('template_category_update', {
      message_template_id: 1, message_template_name: 'order_update', message_template_language: 'en_US',
      previous_category: 'UTILITY', new_category: 'MARKETING',
    }));
    expect(completed).toMatchObject({ stage: 'completed', previousCategory: 'UTILITY', newCategory: 'MARKETING', effectiveAtMs: null });
  });
});

describe('message_template_quality_update', () => {
  it("reads Meta's previous and new quality score, as news for the health log", () => {
    const event = only(body('message_template_quality_update', {
      previous_quality_score: 'GREEN', new_quality_score: 'RED',
      message_template_id: 806312974732579, message_template_name: 'summer_sale', message_template_language: 'en_US',
    }));
    expect(event).toMatchObject({ kind: 'template_quality', name: 'summer_sale', language: 'en_US', previousScore: 'GREEN', newScore: 'RED' });
    expect(describeManagementEvent(event)).toBe(
      'Template summer_sale (en_US): quality GREEN → RED (Meta may pause a template whose quality stays low)');
    expect(hasManagementChanges(body('message_template_quality_update', {}))).toBe(true);
    // Without the template's name it is not understood: skipped, not guessed.
    expect(readManagementEvents(body('message_template_quality_update', { new_quality_score: 'RED' }))).toMatchObject({ events: [], skipped: 1 });
  });
});

describe('phone_number_quality_update', () => {
  it('prefers max_daily_conversations_per_business over current_limit, as a tier name or a count', () => {
    expect(only(body('phone_number_quality_update', {
      display_phone_number: '15550783881', event: 'UPGRADE', old_limit: 'TIER_250', current_limit: 'TIER_250',
      max_daily_conversations_per_business: 'TIER_2K',
    }))).toMatchObject({ kind: 'phone_quality', event: 'UPGRADE', tier: 'TIER_2K', oldTier: 'TIER_250', dailyLimit: 2000, quality: null });
    expect(only(body('phone_number_quality_update', {
      display_phone_number: '15550783881', event: 'ONBOARDING', current_limit: 'TIER_250', max_daily_conversations_per_business: '10000',
    }))).toMatchObject({ tier: '10000', dailyLimit: 10_000 });
  });

  it('reads the legacy tiers and events: TIER_1K, TIER_UNLIMITED, NOT_SET, FLAGGED', () => {
    expect(only(body('phone_number_quality_update', { event: 'DOWNGRADE', current_limit: 'TIER_1K' })))
      .toMatchObject({ dailyLimit: 1000 });
    expect(only(body('phone_number_quality_update', { event: 'THROUGHPUT_UPGRADE', current_limit: 'TIER_UNLIMITED' })))
      .toMatchObject({ event: 'THROUGHPUT_UPGRADE', dailyLimit: null });
    expect(only(body('phone_number_quality_update', { event: 'ONBOARDING', current_limit: 'NOT_SET' })))
      .toMatchObject({ dailyLimit: undefined });
    expect(only(body('phone_number_quality_update', { event: 'FLAGGED', current_limit: 'TIER_250' })))
      .toMatchObject({ quality: 'FLAGGED', dailyLimit: 250 });
  });

  it('maps tiers to daily limits', () => {
    expect([50, 250, 1000, 2000, 10_000, 100_000].map(String).map(dailyLimitOfTier)).toEqual([50, 250, 1000, 2000, 10_000, 100_000]);
    expect(['TIER_50', 'TIER_250', 'TIER_2K', 'TIER_10K', 'TIER_100K', 'UNLIMITED', 'TIER_UNLIMITED'].map(dailyLimitOfTier))
      .toEqual([50, 250, 2000, 10_000, 100_000, null, null]);
    expect(['NOT_SET', 'TIER_NOT_SET', 'whatever', '0', undefined].map(dailyLimitOfTier)).toEqual([undefined, undefined, undefined, undefined, undefined]);
  });
});

describe('account_update', () => {
  it('reads restriction_info with ISO expirations, ban_info and violation_info as restrictions', () => {
    const restricted = only(body('account_update', {
      phone_number: '15550783881', event: 'ACCOUNT_RESTRICTION',
      restriction_info: [
        { restriction_type: 'RESTRICTED_BIZ_INITIATED_MESSAGING', expiration: '2026-04-19T13:59:20+0000' },
        { restriction_type: 'RESTRICTED_ADD_PHONE_NUMBER_ACTION', expiration: 1_776_607_160 },
      ],
    }));
    expect(restricted).toMatchObject({
      kind: 'account_update', effect: 'restricted',
      restrictions: [
        { type: 'RESTRICTED_BIZ_INITIATED_MESSAGING', expiresAtMs: Date.parse('2026-04-19T13:59:20Z') },
        { type: 'RESTRICTED_ADD_PHONE_NUMBER_ACTION', expiresAtMs: 1_776_607_160_000 },
      ],
    });
    expect(only(body('account_update', { event: 'DISABLED_UPDATE', ban_info: { waba_ban_state: 'DISABLE', waba_ban_date: '2026-05-01' } })))
      .toMatchObject({ banState: 'DISABLE', effect: 'restricted' });
    expect(only(body('account_update', { event: 'ACCOUNT_VIOLATION', violation_info: { violation_type: 'SCAM' } })))
      .toMatchObject({ violationType: 'SCAM', effect: 'restricted' });
  });

  it('reads a reinstated ban and an empty restriction update as lifted, and other updates as news only', () => {
    expect(only(body('account_update', { event: 'DISABLED_UPDATE', ban_info: { waba_ban_state: 'REINSTATE', waba_ban_date: '2026-05-02' } })))
      .toMatchObject({ effect: 'lifted' });
    expect(only(body('account_update', { event: 'ACCOUNT_RESTRICTION', restriction_info: [] }))).toMatchObject({ effect: 'lifted' });
    expect(only(body('account_update', { event: 'VERIFIED_ACCOUNT' }))).toMatchObject({ effect: 'none' });
  });
});

describe('the envelope', () => {
  it('ignores message changes and other objects, and tells management payloads apart cheaply', () => {
    const messages = body('messages', { messaging_product: 'whatsapp', statuses: [] });
    expect(readManagementEvents(messages)).toEqual({ events: [], skipped: 0 });
    expect(hasManagementChanges(messages)).toBe(false);
    expect(hasManagementChanges(null)).toBe(false);
    expect(hasManagementChanges(body('account_update', { event: 'X' }))).toBe(true);
    expect(readManagementEvents({ object: 'page', entry: [] })).toEqual({ events: [], skipped: 0 });
  });

  it('fingerprints a change by its content: a redelivery has the same one, another change another', () => {
    const value = { event: 'FLAGGED', current_limit: 'TIER_250' };
    const a = only(body('phone_number_quality_update', value));
    const again = only(JSON.parse(JSON.stringify(body('phone_number_quality_update', value))));
    const later = only(body('phone_number_quality_update', value, { id: WABA, time: TIME + 1 }));
    expect(again.fingerprint).toBe(a.fingerprint);
    expect(later.fingerprint).not.toBe(a.fingerprint);
  });

  it('takes the time from entry.time and leaves it null without one', () => {
    expect(only(body('account_update', { event: 'X' }, { id: WABA })).atMs).toBeNull();
  });
});
