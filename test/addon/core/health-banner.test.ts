// The sidebar's health banner text: Meta's restriction, a flagged quality, a campaign paused on Meta's word.
import { describe, expect, it } from 'vitest';
import { healthBanner } from '../../../addon/core/health-banner';

const EMPTY = { quality: null, messagingLimit: null, restriction: null, events: [] };

describe('healthBanner', () => {
  it('says nothing for a healthy account, an older service without health, or a campaign the marketer paused', () => {
    expect(healthBanner({ health: EMPTY })).toBeNull();
    expect(healthBanner({})).toBeNull();
    expect(healthBanner(null, { state: 'paused', stateReason: { code: 'paused_by_user', message: 'Paused.' } })).toBeNull();
    expect(healthBanner({ health: { ...EMPTY, quality: { rating: 'GREEN', at: 'x' } } })).toBeNull();
  });

  it('names a RED or FLAGGED quality and a restriction with its end', () => {
    expect(healthBanner({ health: { ...EMPTY, quality: { rating: 'RED', at: 'x' } } })).toMatch(/quality \(RED\)/);
    expect(healthBanner({
      health: { ...EMPTY, restriction: { type: 'SCAM', detail: 'Account ACCOUNT_VIOLATION — violation SCAM', expiresAt: null, at: 'x' } },
    })).toBe('Meta restricted this WhatsApp number: Account ACCOUNT_VIOLATION — violation SCAM.');
  });

  it('shows the reason of a campaign paused because Meta paused its template', () => {
    const message = 'Paused: Meta paused the template summer_sale (en_US): PAUSED: FIRST_PAUSE — low quality.';
    expect(healthBanner({ health: EMPTY }, { state: 'paused', stateReason: { code: 'template_paused', message } })).toBe(message);
    expect(healthBanner({ health: EMPTY }, { state: 'running', stateReason: { code: 'template_paused', message } })).toBeNull();
  });
});
