// The demo's closing funnel table: aligned steps, shares of the queued rows, and the breakdowns by error code.
import { describe, expect, it } from 'vitest';
import { funnelFrom } from '../../../addon/core/funnel';
import { renderFunnel } from '../../../service/demo/funnel-table';

describe('renderFunnel', () => {
  const funnel = funnelFrom({ sent: 30, delivered: 380, read: 560, failed: 5, skipped: 1, replied: 22 });

  it('prints intake lines, then each step with its share of the queued rows and its bar', () => {
    const text = renderFunnel({
      rows: 1000, withoutPhone: 2,
      rejectedByCode: new Map([['duplicate_recipient', 1], ['invalid_phone', 5]]),
      funnel,
      failedByCode: new Map([['131049', 2], ['131026', 3]]),
    }, 10);
    expect(text.split('\n')).toEqual([
      '  rows in the CSV     1,000',
      '  no phone number         2   not selected, as in the add-on',
      '  rejected at intake      6   invalid_phone ×5 · duplicate_recipient ×1',
      '',
      '  queued                976  100.0%  ██████████',
      '  sent                  970   99.4%  █████████▉',
      '  delivered             940   96.3%  █████████▋',
      '  read                  560   57.4%  █████▋',
      '  replied                22    2.3%  ▏',
      '  failed                  5    0.5%              131026 ×3 · 131049 ×2',
      '  skipped                 1    0.1%              on the opt-out list',
    ]);
  });

  it('adds lines for cancelled and unsettled rows only when there are some', () => {
    const plain = renderFunnel({ rows: 10, withoutPhone: 0, rejectedByCode: new Map(), funnel: funnelFrom({ read: 10 }) });
    expect(plain).not.toMatch(/cancelled|not settled/);
    const cut = renderFunnel({ rows: 10, withoutPhone: 0, rejectedByCode: new Map(), funnel: funnelFrom({ read: 6, queued: 2, cancelled: 2 }) });
    expect(cut).toMatch(/cancelled\s+2\s+20\.0%/);
    expect(cut).toMatch(/not settled\s+2\s+20\.0%/);
  });

  it('shows zero shares rather than dividing by zero when nothing was queued', () => {
    const text = renderFunnel({ rows: 3, withoutPhone: 0, rejectedByCode: new Map([['invalid_phone', 3]]), funnel: funnelFrom({}) });
    expect(text).toMatch(/queued\s+0\s+0\.0%/);
  });
});
