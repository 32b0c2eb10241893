// What the playground's page, its server and its Apps Script worker say to each other: the state the page draws and
// the requests that change it. Types only, so the browser page, the Node server and the worker can all import it.

/** A cell as the grid shows it: numbers stay numbers (right-aligned, sorted as numbers), everything else is text. */
export type CellValue = string | number;

/** A rectangle in sheet coordinates: 1-based row and column, as SpreadsheetApp's getRange takes them. */
export interface CellRange {
  row: number;
  column: number;
  numRows: number;
  numColumns: number;
}

export interface SheetView {
  name: string;
  /** The used range, row 1 being the header (frozen in the grid). */
  values: CellValue[][];
  /** 1-based rows the filter hides. */
  hiddenRows: number[];
  filterText: string;
  /** The selection the add-on sees through getActiveRangeList(). */
  selection: CellRange[];
}

export interface MenuItemView {
  label: string;
  functionName: string;
}

export interface SidebarView {
  /** Increases each time the add-on calls showSidebar, so the page knows to load a fresh page. */
  index: number;
  title: string;
}

export interface TriggerView {
  uid: string;
  handler: string;
  type: string;
  /** "every 1 h", "once after 60 s", "on form submit". */
  schedule: string;
  /** Wall-clock time of the next run in the playground's compressed time; null when it runs only on demand. */
  nextRunAtMs: number | null;
  runs: number;
}

/** A toast or an alert, numbered in the order the add-on raised them. */
export interface Notice {
  index: number;
  title: string;
  message: string;
}

export interface PlaygroundState {
  /** Changes whenever anything below changes; the page sends it back to be told "unchanged". */
  revision: number;
  sheet: SheetView;
  menuTitle: string;
  menu: MenuItemView[];
  sidebar: SidebarView | null;
  toasts: Notice[];
  alerts: Notice[];
  triggers: TriggerView[];
  /** The last lines Code.js logged (console / Logger), like the Apps Script execution log. */
  logs: string[];
}

/** Fixed facts about this playground run, shown in the banner. */
export interface PlaygroundInfo {
  serviceUrl: string;
  dataDir: string;
  isDataDirTemporary: boolean;
  /** How long an Apps Script hour lasts here, for clock triggers. */
  hourMs: number;
  messagesPerSecond: number;
}

/** The requests the page server relays to the Apps Script worker (one at a time, like Apps Script executions). */
export type HostRequest =
  | { method: 'state'; since: number }
  | { method: 'call'; name: string; args: unknown[] }
  | { method: 'menu'; functionName: string }
  | { method: 'runTrigger'; uid: string }
  | { method: 'sidebarHtml'; index: number }
  | { method: 'edit'; row: number; column: number; values: string[][] }
  | { method: 'sort'; column: number; ascending: boolean }
  | { method: 'filter'; text: string }
  | { method: 'select'; ranges: CellRange[] }
  | { method: 'loadCsv'; text: string };

/** The worker's answer to one request, matched by id. */
export type HostReply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string };
