// In-memory ScriptApp: installable triggers with the Editor add-on rules that matter (one trigger of each type per user
// per document; clock triggers at most hourly), getOAuthToken and AuthMode. Tests fire triggers by uid. Shared by the
// tests and the playground (devtools/playground); never bundled into the add-on.
import type { CallCounter } from './call-counter';

export type FakeTriggerType = 'CLOCK' | 'ON_FORM_SUBMIT' | 'ON_OPEN' | 'ON_EDIT' | 'ON_CHANGE';

export interface FakeTrigger {
  uid: string;
  handler: string;
  type: FakeTriggerType;
  spreadsheetId: string | null;
  everyHours?: number;
  afterMs?: number;
  at?: Date;
  getUniqueId(): string;
  getHandlerFunction(): string;
  getEventType(): FakeTriggerType;
  getTriggerSourceId(): string | null;
}

export class FakeScriptApp {
  readonly triggers: FakeTrigger[] = [];
  readonly AuthMode = { NONE: 'NONE', LIMITED: 'LIMITED', CUSTOM_FUNCTION: 'CUSTOM_FUNCTION', FULL: 'FULL' };
  readonly EventType = { CLOCK: 'CLOCK', ON_FORM_SUBMIT: 'ON_FORM_SUBMIT', ON_OPEN: 'ON_OPEN', ON_EDIT: 'ON_EDIT', ON_CHANGE: 'ON_CHANGE' };
  private next = 1;

  /** `currentDocumentId` is the document the running add-on is used in (the add-on may only add triggers to it). */
  constructor(private readonly calls: CallCounter, readonly currentDocumentId: () => string | null) {}

  getOAuthToken(): string {
    this.calls.hit('ScriptApp.getOAuthToken');
    return 'fake-oauth-token';
  }

  getProjectTriggers(): FakeTrigger[] {
    this.calls.hit('ScriptApp.getProjectTriggers');
    return [...this.triggers];
  }

  getUserTriggers(ss: { getId(): string }): FakeTrigger[] {
    this.calls.hit('ScriptApp.getUserTriggers');
    const id = ss.getId();
    return this.triggers.filter((t) => t.spreadsheetId === id);
  }

  deleteTrigger(trigger: { getUniqueId(): string }): void {
    this.calls.hit('ScriptApp.deleteTrigger');
    const i = this.triggers.findIndex((t) => t.uid === trigger.getUniqueId());
    if (i >= 0) this.triggers.splice(i, 1);
  }

  newTrigger(handler: string): unknown {
    this.calls.hit('ScriptApp.newTrigger');
    const spec: Partial<FakeTrigger> = { handler };
    const create = (): FakeTrigger => this.create(spec);
    const clock = {
      everyHours: (n: number) => { spec.everyHours = n; return clock; },
      everyMinutes: () => {
        throw new Error('Add-ons may not create time-based triggers to run more frequently than once per hour.');
      },
      everyDays: (n: number) => { spec.everyHours = 24 * n; return clock; },
      everyWeeks: (n: number) => { spec.everyHours = 168 * n; return clock; },
      after: (ms: number) => { spec.afterMs = ms; return clock; },
      at: (d: Date) => { spec.at = d; return clock; },
      atHour: () => clock,
      nearMinute: () => clock,
      onWeekDay: () => clock,
      inTimezone: () => clock,
      create,
    };
    return {
      timeBased: () => { spec.type = 'CLOCK'; return clock; },
      forSpreadsheet: (ss: { getId(): string } | string) => {
        const id = typeof ss === 'string' ? ss : ss.getId();
        const events = {
          onFormSubmit: () => { spec.type = 'ON_FORM_SUBMIT'; spec.spreadsheetId = id; return events; },
          onOpen: () => { spec.type = 'ON_OPEN'; spec.spreadsheetId = id; return events; },
          onEdit: () => { spec.type = 'ON_EDIT'; spec.spreadsheetId = id; return events; },
          onChange: () => { spec.type = 'ON_CHANGE'; spec.spreadsheetId = id; return events; },
          create,
        };
        return events;
      },
    };
  }

  private create(spec: Partial<FakeTrigger>): FakeTrigger {
    this.calls.hit('TriggerBuilder.create');
    const doc = spec.spreadsheetId ?? this.currentDocumentId();
    if (spec.spreadsheetId && spec.spreadsheetId !== this.currentDocumentId()) {
      throw new Error('Add-ons can only create triggers for the file in which the add-on is used.');
    }
    if (this.triggers.some((t) => t.type === spec.type && t.spreadsheetId === doc)) {
      // Editor add-on rule: one trigger of each type, per user, per document.
      throw new Error('This add-on has created too many time-based triggers in this document for this Google user account.');
    }
    const uid = String(this.next++);
    const trigger: FakeTrigger = {
      uid, handler: spec.handler!, type: spec.type!, spreadsheetId: doc,
      ...(spec.everyHours !== undefined ? { everyHours: spec.everyHours } : {}),
      ...(spec.afterMs !== undefined ? { afterMs: spec.afterMs } : {}),
      ...(spec.at !== undefined ? { at: spec.at } : {}),
      getUniqueId: () => uid,
      getHandlerFunction: () => spec.handler!,
      getEventType: () => spec.type!,
      getTriggerSourceId: () => doc,
    };
    this.triggers.push(trigger);
    return trigger;
  }
}
