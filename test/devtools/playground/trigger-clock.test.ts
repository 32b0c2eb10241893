// The playground's trigger clock on a fake clock: clock triggers fire on their compressed schedule, one-off
// continuations once, deleted triggers never, form-submit triggers only on demand, and a failing handler stops nothing.
import { describe, expect, it } from 'vitest';
import { CallCounter } from '../../../devtools/apps-script/call-counter';
import { FakeScriptApp, type FakeTrigger } from '../../../devtools/apps-script/fake-script-app';
import { TriggerClock } from '../../../devtools/playground/trigger-clock';
import { FakeClock } from '../../fakes/fake-clock';

const DOC = 'doc-1';
const HOUR_MS = 10_000;

interface Builder {
  timeBased(): { everyHours(n: number): Builder2; after(ms: number): Builder2 };
  forSpreadsheet(id: string): { onFormSubmit(): { create(): FakeTrigger } };
}
interface Builder2 {
  create(): FakeTrigger;
}

function world(fire: (t: FakeTrigger) => void = () => {}) {
  const clock = new FakeClock();
  const scriptApp = new FakeScriptApp(new CallCounter(), () => DOC);
  const fired: string[] = [];
  const errors: string[] = [];
  const triggers = new TriggerClock({
    triggers: () => scriptApp.triggers,
    fire: (t) => {
      fired.push(t.handler);
      fire(t);
    },
    clock,
    hourMs: HOUR_MS,
    onError: (t, e) => errors.push(`${t.handler}: ${(e as Error).message}`),
  });
  const newTrigger = (handler: string) => scriptApp.newTrigger(handler) as Builder;
  return { clock, scriptApp, triggers, fired, errors, newTrigger };
}

describe('TriggerClock', () => {
  it('fires an hourly trigger once per compressed hour, counted from when it appeared', async () => {
    const w = world();
    w.triggers.start();
    w.newTrigger('onClockTick').timeBased().everyHours(1).create();
    await w.clock.advance(250); // the check that first sees it
    await w.clock.advance(HOUR_MS - 250);
    expect(w.fired).toEqual([]);
    await w.clock.advance(250);
    expect(w.fired).toEqual(['onClockTick']);
    await w.clock.advance(HOUR_MS);
    expect(w.fired).toEqual(['onClockTick', 'onClockTick']);
    expect(w.triggers.views()[0]).toMatchObject({ handler: 'onClockTick', schedule: 'every 1 h', runs: 2 });
    w.triggers.stop();
  });

  it('runs a one-minute continuation once, a minute of compressed time after it appeared', async () => {
    const w = world();
    w.triggers.start();
    w.newTrigger('onClockTick').timeBased().after(60_000).create();
    await w.clock.advance(250);
    const minuteMs = (60_000 * HOUR_MS) / 3_600_000;
    await w.clock.advance(minuteMs + 250);
    expect(w.fired).toEqual(['onClockTick']);
    await w.clock.advance(5 * HOUR_MS);
    expect(w.fired).toEqual(['onClockTick']);
    expect(w.triggers.views()[0]!.nextRunAtMs).toBeNull();
  });

  it('never fires a trigger the add-on deleted, and picks up the one it made instead', async () => {
    const w = world((t) => {
      // The continuation swaps itself for the hourly tick, as settleContinuation does.
      if (t.afterMs !== undefined) {
        w.scriptApp.deleteTrigger(t);
        w.newTrigger('onClockTick').timeBased().everyHours(1).create();
      }
    });
    w.triggers.start();
    const doomed = w.newTrigger('onClockTick').timeBased().everyHours(1).create();
    await w.clock.advance(250);
    w.scriptApp.deleteTrigger(doomed);
    w.newTrigger('onClockTick').timeBased().after(60_000).create();
    await w.clock.advance(HOUR_MS * 2 + 500);
    // One continuation run, then the new hourly trigger's first run an hour after it appeared; the deleted one never.
    expect(w.fired).toEqual(['onClockTick', 'onClockTick']);
    expect(w.scriptApp.triggers.map((t) => t.everyHours)).toEqual([1]);
  });

  it('runs form-submit triggers only on demand', async () => {
    const w = world();
    w.triggers.start();
    const form = w.newTrigger('onFormSubmitTrigger').forSpreadsheet(DOC).onFormSubmit().create();
    await w.clock.advance(10 * HOUR_MS);
    expect(w.fired).toEqual([]);
    expect(w.triggers.views()[0]).toMatchObject({ schedule: 'on form submit', nextRunAtMs: null });
    w.triggers.runNow(form.uid);
    expect(w.fired).toEqual(['onFormSubmitTrigger']);
    expect(() => w.triggers.runNow('nope')).toThrow(/No trigger nope/);
  });

  it('keeps the schedule when a handler throws', async () => {
    const w = world(() => {
      throw new Error('service down');
    });
    w.triggers.start();
    w.newTrigger('onClockTick').timeBased().everyHours(1).create();
    await w.clock.advance(2 * HOUR_MS + 500);
    expect(w.fired).toHaveLength(2);
    expect(w.errors).toEqual(['onClockTick: service down', 'onClockTick: service down']);
  });

  it('stops firing after stop()', async () => {
    const w = world();
    w.triggers.start();
    w.newTrigger('onClockTick').timeBased().everyHours(1).create();
    await w.clock.advance(250);
    w.triggers.stop();
    await w.clock.advance(5 * HOUR_MS);
    expect(w.fired).toEqual([]);
    expect(w.clock.pendingTimers).toBe(0);
  });
});
