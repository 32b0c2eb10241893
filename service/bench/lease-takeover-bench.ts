// `npm run bench -- takeover`: how long a sender is silent when the instance sending for it dies. Two instances on
// one PostgreSQL database (LEASE_TTL_MS as given), one sender at `mps` msg/s, its campaign started through instance 1.
// After PRE_KILL_MS of sending, sender_leases says which instance holds the lease; that process is SIGKILLed (no
// hand-over: the survivor takes the lease once it has expired, on its next scan), and the number's webhooks are
// pointed at the survivor, as a load balancer would drop the dead instance.
// The gap is read from the simulator's ledger (every accepted message with its acceptedAt, epoch ms, same clock as
// this process): the first send of the successor is the first accepted after the longest silence following the kill;
// sends the dead holder had in flight may still be accepted just after the kill, before that silence. The simulator's
// busiest window is reset just before the kill, so it covers the windows across the takeover (its arrival queue
// keeps the second before the reset).
import type { PostgresServer } from '../devtools/postgres-server';
import { campaignWithRows, fmt, json, makeSender, sleep, verdict } from './bench-kit';
import { PostgresCluster, type ServiceInstance } from './postgres-cluster';

const PRE_KILL_MS = 3000;
/** How long the successor sends before the ledger is read. */
const AFTER_MS = 3000;
const LEASE_POLL_MS = 50;
/** The holder's rate before the kill and the successor's after its first send are counted over this. */
const RATE_SPAN_MS = 2000;

interface LedgerEntry {
  phoneNumberId: string;
  acceptedAt: number;
}

export async function measureTakeover(server: PostgresServer, simUrl: string, ttlMs: number, mps: number): Promise<string> {
  const label = `lease takeover after SIGKILL of the holder, LEASE_TTL_MS ${fmt(ttlMs)}, one sender at ${fmt(mps)} msg/s, two instances`;
  const cluster = await PostgresCluster.open(server, `takeover_${ttlMs}`, simUrl);
  try {
    const env = { LEASE_TTL_MS: String(ttlMs) };
    const first = await cluster.addInstance(env);
    await cluster.addInstance(env);
    const sender = await makeSender(cluster.asServiceCluster(), first.url, mps);
    const rows = Math.ceil((mps * (PRE_KILL_MS + AFTER_MS)) / 1000) + mps * 4;
    const campaignId = await campaignWithRows(first.url, sender.apiKey, rows);
    await json('POST', `${first.url}/v1/campaigns/${campaignId}/start`, undefined, sender.apiKey);
    await sleep(PRE_KILL_MS);

    const [lease] = await cluster.leases([sender.accountId]);
    const leaseReadAt = Date.now();
    const holder = lease?.instance;
    if (!lease || !holder || lease.msLeft <= 0) return `| ${label} | not measured: no instance held the lease after ${PRE_KILL_MS} ms | | |`;
    const survivor = cluster.instances.find((i) => i !== holder) as ServiceInstance;
    const ledgerBase = ((await json('GET', `${simUrl}/__sim/stats`)) as { ledgerSize: number }).ledgerSize;
    await json('POST', `${simUrl}/__sim/stats/reset`);
    const killAt = Date.now();
    holder.child.kill('SIGKILL');
    const msLeftAtKill = lease.msLeft - (killAt - leaseReadAt);
    const number = await json('GET', `${simUrl}/__sim/numbers/${sender.phoneNumberId}`);
    await json('POST', `${simUrl}/__sim/numbers`, { ...number, webhookUrl: number.webhookUrl.replace(holder.url, survivor.url) });

    const deadline = killAt + ttlMs + 15_000;
    // When the survivor took the lease: its expires_at minus the TTL (a renewal comes only TTL / 5 later).
    let acquiredAt: number | null = null;
    while (acquiredAt === null && Date.now() < deadline) {
      await sleep(LEASE_POLL_MS);
      const [now] = await cluster.leases([sender.accountId]);
      if (now?.instance === survivor && now.msLeft > 0) acquiredAt = Date.now() + now.msLeft - ttlMs;
    }
    if (acquiredAt === null) {
      return `| ${label} | **no takeover**: instance ${survivor.number} did not take the lease within ${fmt(deadline - killAt)} ms of the kill | | |`;
    }
    await sleep(AFTER_MS);
    const stats = await json('GET', `${simUrl}/__sim/stats`);
    const busiest = (stats.numbers[sender.phoneNumberId]?.busiestWindow ?? 0) as number;
    const throttled = (stats.rejectedByCode?.['130429'] ?? 0) as number;
    await json('POST', `${survivor.url}/v1/campaigns/${campaignId}/cancel`, undefined, sender.apiKey).catch(() => {});

    // At most `mps` a second: the last RATE_SPAN_MS × mps entries before the kill cover RATE_SPAN_MS at least.
    const offset = Math.max(0, ledgerBase - Math.ceil((RATE_SPAN_MS / 1000) * mps));
    const ledger = (await json('GET', `${simUrl}/__sim/ledger?list=1&offset=${offset}&limit=100000`)) as { entries: LedgerEntry[] };
    const times = ledger.entries.filter((e) => e.phoneNumberId === sender.phoneNumberId).map((e) => e.acceptedAt).sort((a, b) => a - b);
    const gap = successorStart(times, killAt);
    if (!gap) return `| ${label} | **no send accepted after the kill** (lease taken by instance ${survivor.number}) | | |`;
    const takeoverMs = gap.firstMs - killAt;
    const lastOfHolder = gap.lastBeforeMs === null ? 'none in the ledger' : `${fmt(gap.lastBeforeMs - killAt)} ms`;
    const ratePerS = (from: number, to: number) => times.filter((t) => t >= from && t < to).length / ((to - from) / 1000);
    return `| ${label} | first send of the successor ${fmt(takeoverMs)} ms after the kill `
      + `| lease had ${fmt(msLeftAtKill)} ms left at the kill; instance ${survivor.number} took it ${fmt(acquiredAt - killAt - msLeftAtKill)} ms `
      + `after expiry and sent ${fmt(gap.firstMs - acquiredAt)} ms later${takeoverMs - msLeftAtKill > 1000 ? ' (**over the 1 s scan interval after expiry**)' : ''}; `
      + `holder (instance ${holder.number}) sent ${fmt(ratePerS(killAt - RATE_SPAN_MS, killAt))} msg/s in the ${RATE_SPAN_MS / 1000} s before the kill, `
      + `its last accepted at ${lastOfHolder} from the kill; successor ${fmt(ratePerS(gap.firstMs, gap.firstMs + RATE_SPAN_MS))} msg/s `
      + `in its first ${RATE_SPAN_MS / 1000} s; `
      + `busiest 1 s window across the takeover ${busiest} of ${mps}, 130429s: ${throttled} `
      + `| expected ≤ TTL + 1 s, no window over: ${verdict(takeoverMs <= ttlMs + 1000 && busiest <= mps && throttled === 0)} |`;
  } finally {
    await cluster.close();
  }
}

/**
 * The first acceptance after the longest silence that follows `killAt` (a silence before the first acceptance after
 * the kill counts from the kill), and the acceptance just before it; null when nothing was accepted after the kill.
 */
function successorStart(sortedTimes: readonly number[], killAt: number): { firstMs: number; lastBeforeMs: number | null } | null {
  let best: { firstMs: number; lastBeforeMs: number | null } | null = null;
  let bestSilence = -1;
  for (let i = 0; i < sortedTimes.length; i++) {
    const t = sortedTimes[i]!;
    if (t <= killAt) continue;
    const previous = i > 0 ? sortedTimes[i - 1]! : null;
    const silence = t - Math.max(killAt, previous ?? killAt);
    if (silence > bestSilence) {
      bestSilence = silence;
      best = { firstMs: t, lastBeforeMs: previous };
    }
  }
  return best;
}
