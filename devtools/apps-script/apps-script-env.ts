// One Apps Script world for a test or the playground: every fake wired together with a shared CallCounter, a Sheets API
// handler that answers row-visibility reads from the fake spreadsheets, and two ways to run add-on code: install the
// globals on globalThis (for importing addon/server modules) or load the built Code.js in a fresh vm context. Shared by
// the tests and the playground (devtools/playground); never bundled into the add-on.
import { readFileSync } from 'node:fs';
import { createContext, runInContext, type Context } from 'node:vm';
import { CallCounter } from './call-counter';
import { FakeHtmlService } from './fake-html-service';
import { FakeLockService } from './fake-lock-service';
import { FakePropertiesService } from './fake-properties-service';
import { FakeScriptApp, type FakeTrigger } from './fake-script-app';
import { FakeSpreadsheetApp } from './fake-spreadsheet-app';
import { FakeUrlFetchApp, type FetchReply, type FetchRequest } from './fake-url-fetch-app';

export interface EnvOptions {
  /** Perform real HTTP for requests no handler answers (needs the service in another process). */
  realHttp?: boolean;
  /** Directory holding Sidebar.html (the build output); null serves a placeholder. */
  htmlDir?: string | null;
}

export interface AppsScriptEnv {
  calls: CallCounter;
  SpreadsheetApp: FakeSpreadsheetApp;
  PropertiesService: FakePropertiesService;
  ScriptApp: FakeScriptApp;
  UrlFetchApp: FakeUrlFetchApp;
  HtmlService: FakeHtmlService;
  LockService: FakeLockService;
  /** Every fake keyed by its Apps Script global name, plus Logger and console. */
  globals: Record<string, unknown>;
  logs: string[];
  /** Puts the globals on globalThis; returns a function that removes them. */
  install(): () => void;
  /** Loads a bundle (Code.js text) as Apps Script would: a classic script in a fresh global scope. */
  loadBundle(code: string): Context;
  /** Calls a trigger's handler the way Apps Script would: no active spreadsheet for clock triggers. */
  fire(trigger: FakeTrigger, call: (name: string, event: unknown) => unknown): unknown;
}

/** Answers `GET https://sheets.googleapis.com/v4/spreadsheets/{id}?ranges=…` row metadata from the fakes. */
function sheetsApiHandler(app: FakeSpreadsheetApp): (r: FetchRequest) => FetchReply | null {
  return (r) => {
    const m = /^https:\/\/sheets\.googleapis\.com\/v4\/spreadsheets\/([^?/]+)\?(.*)$/.exec(r.url);
    if (!m) return null;
    const ss = app.files.get(decodeURIComponent(m[1]!));
    if (!ss) return { status: 404, body: '{"error":{"code":404,"message":"Requested entity was not found."}}' };
    const range = new URLSearchParams(m[2]!).get('ranges') ?? '';
    const rm = /^'?(.*?)'?!A(\d+):A(\d+)$/.exec(range);
    if (!rm) return { status: 400, body: '{}' };
    const sheet = ss.sheets.find((s) => s.getName() === rm[1]!.replace(/''/g, "'"));
    if (!sheet) return { status: 400, body: '{}' };
    const rowMetadata = [];
    for (let row = Number(rm[2]); row <= Number(rm[3]); row += 1) {
      rowMetadata.push({ ...(sheet.hiddenByFilter.has(row) ? { hiddenByFilter: true } : {}), ...(sheet.hiddenByUser.has(row) ? { hiddenByUser: true } : {}) });
    }
    return { status: 200, body: JSON.stringify({ sheets: [{ data: [{ rowMetadata }] }] }) };
  };
}

export function createAppsScriptEnv(options: EnvOptions = {}): AppsScriptEnv {
  const calls = new CallCounter();
  const spreadsheetApp = new FakeSpreadsheetApp(calls);
  const properties = new FakePropertiesService(calls);
  // A trigger run belongs to the document whose trigger fired, even though it has no active spreadsheet.
  let runningTriggerDocument: string | null = null;
  const scriptApp = new FakeScriptApp(calls, () => spreadsheetApp.active?.id ?? runningTriggerDocument);
  const urlFetch = new FakeUrlFetchApp(calls, options.realHttp ?? false);
  urlFetch.handlers.push(sheetsApiHandler(spreadsheetApp));
  const html = new FakeHtmlService(calls, options.htmlDir ?? null);
  const locks = new FakeLockService(calls);
  const logs: string[] = [];
  const log = (...args: unknown[]): void => {
    logs.push(args.map((a) => (a instanceof Error ? a.stack ?? a.message : typeof a === 'string' ? a : JSON.stringify(a))).join(' '));
  };
  const fakeConsole = { log, info: log, warn: log, error: log };
  const globals: Record<string, unknown> = {
    SpreadsheetApp: spreadsheetApp,
    PropertiesService: properties,
    ScriptApp: scriptApp,
    UrlFetchApp: urlFetch,
    HtmlService: html,
    LockService: locks,
    Logger: { log },
    console: fakeConsole,
  };
  const env: AppsScriptEnv = {
    calls, SpreadsheetApp: spreadsheetApp, PropertiesService: properties, ScriptApp: scriptApp, UrlFetchApp: urlFetch,
    HtmlService: html, LockService: locks, globals, logs,
    install() {
      const g = globalThis as Record<string, unknown>;
      const saved = new Map<string, unknown>();
      for (const [k, v] of Object.entries(globals)) {
        if (k === 'console') continue;
        saved.set(k, g[k]);
        g[k] = v;
      }
      return () => {
        for (const [k, v] of saved) g[k] = v;
      };
    },
    loadBundle(code: string) {
      // Only what Apps Script's V8 offers: the services above plus the language's own globals.
      const context = createContext({ ...globals });
      runInContext(code, context, { filename: 'Code.js' });
      return context;
    },
    fire(trigger, call) {
      const wasActive = spreadsheetApp.active;
      const hadDocument = properties.hasDocument;
      if (trigger.type === 'CLOCK') spreadsheetApp.active = null;
      runningTriggerDocument = trigger.spreadsheetId;
      try {
        const source = trigger.spreadsheetId ? spreadsheetApp.files.get(trigger.spreadsheetId) : undefined;
        const event = trigger.type === 'CLOCK'
          ? { authMode: 'FULL', triggerUid: trigger.uid }
          : { authMode: 'FULL', triggerUid: trigger.uid, source, range: source ? { getSheet: () => source.sheets[0] } : undefined };
        return call(trigger.handler, event);
      } finally {
        spreadsheetApp.active = wasActive;
        properties.hasDocument = hadDocument;
        runningTriggerDocument = null;
      }
    },
  };
  return env;
}

/** Reads the built bundle from disk. */
export function readBundle(path: string): string {
  return readFileSync(path, 'utf8');
}
