// Runs the fake ScriptApp's clock triggers on a real timer, in compressed time: an Apps Script hour lasts `hourMs`
// here, so the add-on's hourly tick (sync, recurring sends) and its one-minute continuation are seen within seconds.
// Form-submit triggers run only on demand (a form response arriving); `runNow` fires any trigger at once.
import type { Clock } from '../../service/campaigns/clock';
import type { FakeTrigger } from '../apps-script/fake-script-app';
import type { TriggerView } from './playground-protocol';

export const APPS_SCRIPT_HOUR_MS = 3_600_000;

export interface TriggerClockOptions {
  /** The installed triggers, read afresh on every check (the add-on adds and deletes them as it runs). */
  triggers: () => readonly FakeTrigger[];
  /** Runs one trigger's handler as Apps Script would; an error is the handler's own and does not stop the clock. */
  fire: (trigger: FakeTrigger) => void;
  clock: Clock;
  /** Length of an Apps Script hour in real milliseconds. */
  hourMs: number;
  /** How often the trigger list is checked for new and due triggers. Default 250 ms. */
  checkEveryMs?: number;
  /** Where a handler's error goes. */
  onError?: (trigger: FakeTrigger, error: unknown) => void;
}

interface Schedule {
  /** When the trigger was first seen: it counts as created then. */
  seenAtMs: number;
  nextRunAtMs: number | null;
  runs: number;
}

export class TriggerClock {
  private readonly schedules = new Map<string, Schedule>();
  private cancelTimer: (() => void) | null = null;
  private readonly checkEveryMs: number;

  constructor(private readonly options: TriggerClockOptions) {
    if (!(options.hourMs > 0)) throw new Error('hourMs must be positive');
    this.checkEveryMs = options.checkEveryMs ?? 250;
  }

  start(): void {
    if (this.cancelTimer) return;
    const loop = (): void => {
      this.check();
      this.cancelTimer = this.options.clock.setTimer(this.checkEveryMs, loop);
    };
    this.cancelTimer = this.options.clock.setTimer(this.checkEveryMs, loop);
  }

  stop(): void {
    this.cancelTimer?.();
    this.cancelTimer = null;
  }

  /** Fires every due clock trigger once. Called by the timer; public so a caller can check right after a change. */
  check(): void {
    const nowMs = this.options.clock.now();
    const live = this.options.triggers();
    const liveUids = new Set(live.map((t) => t.uid));
    for (const uid of this.schedules.keys()) if (!liveUids.has(uid)) this.schedules.delete(uid);
    for (const trigger of live) {
      const schedule = this.scheduleOf(trigger, nowMs);
      // A handler may delete this trigger or others (the continuation swaps itself for the hourly tick).
      if (schedule.nextRunAtMs === null || schedule.nextRunAtMs > nowMs || !this.isInstalled(trigger.uid)) continue;
      schedule.nextRunAtMs = trigger.everyHours !== undefined ? schedule.nextRunAtMs + trigger.everyHours * this.options.hourMs : null;
      this.run(trigger, schedule);
    }
  }

  /** Fires `uid` now, whatever its schedule (the page's "Run now", or a form response for a form-submit trigger). */
  runNow(uid: string): void {
    const trigger = this.options.triggers().find((t) => t.uid === uid);
    if (!trigger) throw new Error(`No trigger ${uid} is installed.`);
    this.run(trigger, this.scheduleOf(trigger, this.options.clock.now()));
  }

  views(): TriggerView[] {
    const nowMs = this.options.clock.now();
    return this.options.triggers().map((t) => {
      const s = this.scheduleOf(t, nowMs);
      return { uid: t.uid, handler: t.handler, type: t.type, schedule: describe(t), nextRunAtMs: s.nextRunAtMs, runs: s.runs };
    });
  }

  private run(trigger: FakeTrigger, schedule: Schedule): void {
    schedule.runs += 1;
    try {
      this.options.fire(trigger);
    } catch (error) {
      this.options.onError?.(trigger, error);
    }
  }

  private isInstalled(uid: string): boolean {
    return this.options.triggers().some((t) => t.uid === uid);
  }

  private scheduleOf(trigger: FakeTrigger, nowMs: number): Schedule {
    let s = this.schedules.get(trigger.uid);
    if (!s) {
      s = { seenAtMs: nowMs, nextRunAtMs: this.firstRunAtMs(trigger, nowMs), runs: 0 };
      this.schedules.set(trigger.uid, s);
    }
    return s;
  }

  private firstRunAtMs(trigger: FakeTrigger, seenAtMs: number): number | null {
    if (trigger.type !== 'CLOCK') return null;
    if (trigger.everyHours !== undefined) return seenAtMs + trigger.everyHours * this.options.hourMs;
    if (trigger.afterMs !== undefined) return seenAtMs + (trigger.afterMs * this.options.hourMs) / APPS_SCRIPT_HOUR_MS;
    // An absolute time stays absolute: compressing it would move a date the marketer picked.
    if (trigger.at !== undefined) return trigger.at.getTime();
    return null;
  }
}

function describe(t: FakeTrigger): string {
  if (t.type === 'ON_FORM_SUBMIT') return 'on form submit';
  if (t.type !== 'CLOCK') return t.type.toLowerCase().replace(/_/g, ' ');
  if (t.everyHours !== undefined) return `every ${t.everyHours} h`;
  if (t.afterMs !== undefined) return `once, ${Math.round(t.afterMs / 1000)} s after it was made`;
  if (t.at !== undefined) return `once, at ${t.at.toISOString()}`;
  return 'clock';
}
