// The pairs the webhook processor leaves out of a body because it wrote them lately.
import { describe, expect, it } from 'vitest';
import { RecentIdentities } from '../../../service/webhooks/recent-identities';

describe('RecentIdentities', () => {
  const pair = (userId: string, phone?: string) => ({ userId, phones: phone ? [phone] : [] });

  it('leaves out a pair written lately, until its time runs out or Meta names another number for it', () => {
    const recent = new RecentIdentities(1000);
    recent.remember('a', [pair('US.1', '+15550001')], 0);
    expect(recent.unknownAmong('a', [pair('US.1', '+15550001'), pair('US.2', '+15550002')], 500)).toEqual([pair('US.2', '+15550002')]);
    // A status naming the BSUID alone (the number withheld) adds nothing to what was written.
    expect(recent.unknownAmong('a', [pair('US.1')], 500)).toEqual([]);
    expect(recent.unknownAmong('a', [pair('US.1', '+15559999')], 500)).toEqual([pair('US.1', '+15559999')]);
    expect(recent.unknownAmong('a', [pair('US.1', '+15550001')], 1001)).toEqual([pair('US.1', '+15550001')]);
    // Another account's pair, and a forgotten account, are written again.
    expect(recent.unknownAmong('b', [pair('US.1', '+15550001')], 500)).toEqual([pair('US.1', '+15550001')]);
    recent.forget('a');
    expect(recent.unknownAmong('a', [pair('US.1', '+15550001')], 500)).toEqual([pair('US.1', '+15550001')]);
  });

  it('keeps at most maxPairs, dropping the oldest', () => {
    const recent = new RecentIdentities(60_000, 2);
    recent.remember('a', [pair('US.1', '+1'), pair('US.2', '+2'), pair('US.3', '+3')], 0);
    expect(recent.unknownAmong('a', [pair('US.1', '+1'), pair('US.2', '+2'), pair('US.3', '+3')], 1).map((p) => p.userId)).toEqual(['US.1']);
  });
});
