// The playground's Apps Script: the built Code.js loaded on the in-memory Apps Script services (devtools/apps-script)
// with real HTTP to the service, one spreadsheet the marketer works in, and the add-on's triggers on a real timer.
// Every request runs to completion before the next, as Apps Script executions of one user do. Blocks its thread
// during UrlFetch calls, so it runs in a worker thread, never beside the service's own event loop.
import { join } from 'node:path';
import { runInContext, type Context } from 'node:vm';
import type { Clock } from '../../service/campaigns/clock';
import { createAppsScriptEnv, readBundle, type AppsScriptEnv } from '../apps-script/apps-script-env';
import type { FakeTrigger } from '../apps-script/fake-script-app';
import { parseCsv } from '../../service/demo/csv';
import { PlaygroundWorkbook } from './playground-workbook';
import type { HostRequest, Notice, PlaygroundState } from './playground-protocol';
import { TriggerClock } from './trigger-clock';

const PLAYGROUND_SPREADSHEET_ID = '1PlaygroundSpreadsheet_localOnly_0000000000';
const SHEET_NAME = 'Contacts';
/** What the page shows of the add-on's notices and log: the latest, not the whole history. */
const RECENT_NOTICES = 5;
const RECENT_LOG_LINES = 30;
/** What the fakes keep of their history (they keep everything for tests) in a playground that runs for hours. */
const KEPT_REQUESTS = 100;
const KEPT_LOG_LINES = 500;
const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

export interface AppsScriptHostOptions {
  /** Folder with Code.js and Sidebar.html (dist/addon). */
  addonDir: string;
  serviceUrl: string;
  apiKey: string;
  /** The marketer's own number, for test sends. */
  testNumber: string;
  /** The sheet's first contents: CSV text, header first. */
  csvText: string;
  clock: Clock;
  hourMs: number;
}

export class AppsScriptHost {
  readonly env: AppsScriptEnv;
  readonly workbook: PlaygroundWorkbook;
  readonly triggers: TriggerClock;
  private readonly context: Context;
  private revision = 0;
  private lastStateJson = '';

  constructor(private readonly options: AppsScriptHostOptions) {
    this.env = createAppsScriptEnv({ realHttp: true, htmlDir: options.addonDir });
    const ss = this.env.SpreadsheetApp.createSpreadsheet(PLAYGROUND_SPREADSHEET_ID, 'Playground');
    this.workbook = new PlaygroundWorkbook(ss, ss.addSheet(SHEET_NAME, []));
    this.workbook.loadRecords(parseCsv(options.csvText));
    this.context = this.env.loadBundle(readBundle(join(options.addonDir, 'Code.js')));
    this.triggers = new TriggerClock({
      triggers: () => this.env.ScriptApp.triggers,
      fire: (t) => this.fire(t),
      clock: options.clock,
      hourMs: options.hourMs,
      onError: (t, error) => this.env.logs.push(`${t.handler} failed: ${error instanceof Error ? error.message : String(error)}`),
    });
  }

  /**
   * Opens the document as a marketer who installed the add-on and connected it: the menu (onOpen), the connection
   * saved (checked against the service, as the sidebar's "Save and check" does) and the sidebar open.
   */
  open(): void {
    this.callGlobal('onOpen', [{ authMode: 'FULL' }]);
    const saved = this.callGlobal('saveSettings', [this.options.serviceUrl, this.options.apiKey, this.options.testNumber]) as { ok: boolean; error?: { message: string } };
    if (!saved.ok) throw new Error(`The add-on could not connect to the playground's service: ${saved.error?.message}`);
    this.callGlobal('showSidebar', []);
    this.triggers.start();
  }

  close(): Promise<number> | undefined {
    this.triggers.stop();
    return this.env.UrlFetchApp.close();
  }

  /** Answers one request from the page server. Throws with words the page can show. */
  handle(request: HostRequest): unknown {
    try {
      return this.dispatch(request);
    } finally {
      this.trimHistory();
    }
  }

  private dispatch(request: HostRequest): unknown {
    switch (request.method) {
      case 'state':
        return this.state(request.since);
      case 'call':
        return this.callGlobal(request.name, request.args);
      case 'menu':
        return this.runMenuItem(request.functionName);
      case 'runTrigger':
        return this.triggers.runNow(request.uid);
      case 'sidebarHtml':
        return this.sidebarHtml(request.index);
      case 'edit':
        return this.workbook.edit(request.row, request.column, request.values);
      case 'sort':
        return this.workbook.sort(request.column, request.ascending);
      case 'filter':
        return this.workbook.setFilter(request.text);
      case 'select':
        return this.workbook.select(request.ranges);
      case 'loadCsv':
        return this.workbook.loadRecords(parseCsv(request.text));
    }
  }

  /**
   * Calls a global of Code.js as google.script.run does: arguments and result cross as JSON copies, in the context
   * of the open spreadsheet. Only Code.js's own functions can be named (the name is looked up, never evaluated).
   */
  callGlobal(name: string, args: readonly unknown[]): unknown {
    if (!IDENTIFIER.test(name)) throw new Error(`"${name}" is not a function name.`);
    const fn = runInContext(`typeof ${name} === 'function' ? ${name} : null`, this.context) as ((...a: unknown[]) => unknown) | null;
    if (!fn) throw new Error(`Script function not found: ${name}`);
    const result = fn(...(JSON.parse(JSON.stringify(args)) as unknown[]));
    return result === undefined ? undefined : JSON.parse(JSON.stringify(result));
  }

  /** The page's state; `{ revision }` alone when nothing changed since `since`. */
  state(since: number): PlaygroundState | { revision: number } {
    const ui = this.env.SpreadsheetApp.ui;
    const ss = this.workbook.spreadsheet;
    const sidebar = ui.sidebars.length === 0 ? null : { index: ui.sidebars.length - 1, title: ui.sidebars[ui.sidebars.length - 1]!.title };
    const body: Omit<PlaygroundState, 'revision'> = {
      sheet: this.workbook.view(),
      menuTitle: 'WhatsApp campaigns',
      menu: ui.menus[ui.menus.length - 1] ?? [],
      sidebar,
      toasts: recent(ss.toasts.map((message, index): Notice => ({ index, title: 'WhatsApp campaigns', message }))),
      alerts: recent(ui.alerts.map((a, index): Notice => ({ index, title: a.title, message: a.message }))),
      triggers: this.triggers.views(),
      logs: this.env.logs.slice(-RECENT_LOG_LINES),
    };
    const json = JSON.stringify(body);
    if (json !== this.lastStateJson) {
      this.lastStateJson = json;
      this.revision += 1;
    }
    return since === this.revision ? { revision: this.revision } : { revision: this.revision, ...body };
  }

  private runMenuItem(functionName: string): void {
    const menu = this.env.SpreadsheetApp.ui.menus[this.env.SpreadsheetApp.ui.menus.length - 1] ?? [];
    if (!menu.some((item) => item.functionName === functionName)) throw new Error(`The add-on's menu has no item running ${functionName}.`);
    this.callGlobal(functionName, []);
  }

  /** The sidebar page as the add-on served it, with google.script.run bridged to this host over HTTP. */
  private sidebarHtml(index: number): string {
    const sidebar = this.env.SpreadsheetApp.ui.sidebars[index];
    if (!sidebar) throw new Error(`No sidebar ${index} was opened.`);
    // The bridge must run before the page's own script, which calls google.script.run as it starts.
    const bridge = '<script src="/sidebar-bridge.js"></script>';
    return /<head[^>]*>/i.test(sidebar.content) ? sidebar.content.replace(/<head[^>]*>/i, (m) => `${m}\n${bridge}`) : bridge + sidebar.content;
  }

  /** Trigger events carry live objects (the spreadsheet, the range), so they are passed as they are, not copied. */
  private fire(trigger: FakeTrigger): void {
    try {
      this.env.fire(trigger, (name, event) => (runInContext(name, this.context) as (e: unknown) => unknown)(event));
    } finally {
      this.trimHistory();
    }
  }

  /** Drops all but the latest requests and log lines (see KEPT_REQUESTS). */
  private trimHistory(): void {
    const requests = this.env.UrlFetchApp.log;
    if (requests.length > KEPT_REQUESTS) requests.splice(0, requests.length - KEPT_REQUESTS);
    if (this.env.logs.length > KEPT_LOG_LINES) this.env.logs.splice(0, this.env.logs.length - KEPT_LOG_LINES);
  }
}

function recent<T>(items: T[]): T[] {
  return items.slice(-RECENT_NOTICES);
}
