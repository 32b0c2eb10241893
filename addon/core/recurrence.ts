// Recurring sends: "send to the rows added since the last run" hourly, daily, weekly or on each form submission.
// Pure timing rules; the one clock trigger an add-on may own ticks hourly and asks `isRunDue`.

export type Recurrence = 'hourly' | 'daily' | 'weekly' | 'form';

const HOUR_MS = 3_600_000;

/**
 * How long after the last run the next is due. Slightly under the nominal period because Apps Script fires an
 * hourly trigger anywhere inside its hour; without the slack a daily run would drift by an hour each day.
 */
export const RECURRENCE_PERIOD_MS: Readonly<Record<Exclude<Recurrence, 'form'>, number>> = {
  hourly: HOUR_MS - 15 * 60_000,
  daily: 24 * HOUR_MS - 45 * 60_000,
  weekly: 7 * 24 * HOUR_MS - 45 * 60_000,
};

/** True when a clock tick at `nowMs` should run a recurring send last run at `lastRunAtMs` (null: never ran). */
export function isRunDue(recurrence: Recurrence, lastRunAtMs: number | null, nowMs: number): boolean {
  if (recurrence === 'form') return false;
  if (lastRunAtMs === null) return true;
  return nowMs - lastRunAtMs >= RECURRENCE_PERIOD_MS[recurrence];
}
