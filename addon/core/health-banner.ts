// The sidebar's warning when Meta has restricted or flagged the number, or paused the template a campaign sends:
// what Meta said, in one line, or null when there is nothing to warn about. Pure: the sidebar only shows it.
import type { Account, Campaign } from './service-contract';

/** Quality ratings that warn: Meta's RED and the legacy FLAGGED event. */
const WARNING_QUALITY = new Set(['RED', 'FLAGGED']);

/** Pause reasons (the service's codes) that come from Meta's word about a template or the account. */
function isMetaPause(code: string): boolean {
  return code.startsWith('template_') || code === 'account_restricted';
}

export function healthBanner(account: Pick<Account, 'health'> | null, campaign?: Pick<Campaign, 'state' | 'stateReason'> | null): string | null {
  const lines: string[] = [];
  const health = account?.health ?? null;
  if (health?.restriction) {
    const until = health.restriction.expiresAt ? ` until ${health.restriction.expiresAt.slice(0, 16).replace('T', ' ')}` : '';
    lines.push(`Meta restricted this WhatsApp number${until}: ${health.restriction.detail}.`);
  }
  if (health?.quality && WARNING_QUALITY.has(health.quality.rating.toUpperCase())) {
    lines.push(`Meta flagged this number's quality (${health.quality.rating}): sends may be limited; review recent campaigns.`);
  }
  const reason = campaign?.stateReason;
  if (campaign?.state === 'paused' && reason && isMetaPause(reason.code)) lines.push(reason.message);
  return lines.length > 0 ? lines.join(' ') : null;
}
