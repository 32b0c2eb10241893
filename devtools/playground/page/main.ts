// The playground page's behaviour: polls the server for the sheet and the add-on's UI (menu, sidebar, toasts,
// alerts, triggers, log) and draws them; sends what the marketer does (edits, sort, filter, selection, CSV) back.
import type { Notice, PlaygroundInfo, PlaygroundState, TriggerView } from '../playground-protocol';
import { playgroundApi as api } from './playground-api';
import { SheetGrid } from './sheet-grid';

const POLL_MS = 400;
const TOAST_MS = 6000;

function $(id: string): HTMLElement {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el;
}

let revision = -1;
let state: PlaygroundState | null = null;
let shownSidebar = -1;
let closedSidebar = -1;
let lastToast = -1;
let lastAlert = -1;
const alertQueue: Notice[] = [];
let selectTimer: number | undefined;
let filterTimer: number | undefined;
let pollNow: (() => void) | null = null;

const grid = new SheetGrid($('grid'), {
  edit: (row, column, values) => void act(() => api.edit(row, column, values)),
  select: (ranges) => {
    window.clearTimeout(selectTimer);
    selectTimer = window.setTimeout(() => void act(() => api.select(ranges)), 120);
  },
  activeCell: (a1, value) => {
    $('cell-name').textContent = a1;
    $('cell-value').textContent = String(value);
  },
});

/** Runs a request, then asks for the new state at once; an error is shown as an alert, as Sheets would. */
async function act(fn: () => Promise<unknown>): Promise<void> {
  try {
    await fn();
  } catch (error) {
    showAlert({ index: -1, title: 'Playground', message: error instanceof Error ? error.message : String(error) });
  }
  pollNow?.();
}

async function poll(): Promise<void> {
  for (;;) {
    try {
      const next = await api.state(revision);
      revision = next.revision;
      if ('sheet' in next) draw(next);
    } catch {
      // The playground is stopping or busy; the next round tries again.
    }
    await new Promise<void>((resolve) => {
      const timer = window.setTimeout(resolve, POLL_MS);
      pollNow = () => {
        window.clearTimeout(timer);
        resolve();
      };
    });
    pollNow = null;
  }
}

function draw(s: PlaygroundState): void {
  state = s;
  grid.render(s.sheet);
  $('sheet-tab').textContent = s.sheet.name;
  const dataRows = Math.max(0, s.sheet.values.length - 1);
  const hidden = s.sheet.hiddenRows.length;
  $('row-count').textContent = `${dataRows.toLocaleString()} data rows${hidden > 0 ? `, ${hidden.toLocaleString()} hidden by the filter` : ''}`;
  drawMenu(s);
  drawSidebar(s);
  for (const t of s.toasts) if (t.index > lastToast) showToast(t);
  lastToast = Math.max(lastToast, ...s.toasts.map((t) => t.index));
  for (const a of s.alerts) if (a.index > lastAlert) showAlert(a);
  lastAlert = Math.max(lastAlert, ...s.alerts.map((a) => a.index));
  drawTriggers(s.triggers);
  $('log').textContent = s.logs.join('\n');
}

function drawMenu(s: PlaygroundState): void {
  const box = $('menu-extensions-items');
  box.textContent = '';
  const heading = document.createElement('div');
  heading.className = 'heading';
  heading.textContent = s.menuTitle;
  box.appendChild(heading);
  for (const item of s.menu) {
    const b = document.createElement('button');
    b.textContent = item.label;
    b.dataset.fn = item.functionName;
    b.setAttribute('role', 'menuitem');
    b.addEventListener('click', () => {
      box.classList.add('hidden');
      void act(() => api.menu(item.functionName));
    });
    box.appendChild(b);
  }
}

function drawSidebar(s: PlaygroundState): void {
  if (!s.sidebar || s.sidebar.index === closedSidebar) {
    $('sidebar').classList.add('hidden');
    return;
  }
  $('sidebar').classList.remove('hidden');
  $('sidebar-title').textContent = s.sidebar.title;
  if (s.sidebar.index !== shownSidebar) {
    shownSidebar = s.sidebar.index;
    ($('sidebar-frame') as HTMLIFrameElement).src = `/sidebar/${s.sidebar.index}`;
  }
}

function closeSidebar(): void {
  closedSidebar = shownSidebar;
  $('sidebar').classList.add('hidden');
}

function drawTriggers(triggers: TriggerView[]): void {
  const table = $('triggers');
  table.textContent = '';
  $('dev-summary').textContent = `Triggers (${triggers.length}) and execution log`;
  for (const t of triggers) {
    const tr = document.createElement('tr');
    tr.dataset.uid = t.uid;
    const cells = [t.handler, t.schedule, '', `${t.runs} run${t.runs === 1 ? '' : 's'}`];
    for (const text of cells) {
      const td = document.createElement('td');
      td.textContent = text;
      tr.appendChild(td);
    }
    tr.children[2]!.className = 'next-run';
    const run = document.createElement('button');
    run.textContent = t.type === 'ON_FORM_SUBMIT' ? 'A form response arrives' : 'Run now';
    run.addEventListener('click', () => void act(() => api.runTrigger(t.uid)));
    const td = document.createElement('td');
    td.appendChild(run);
    tr.appendChild(td);
    table.appendChild(tr);
  }
  drawCountdowns();
}

function drawCountdowns(): void {
  for (const t of state?.triggers ?? []) {
    const cell = document.querySelector(`#triggers tr[data-uid="${CSS.escape(t.uid)}"] .next-run`);
    if (!cell) continue;
    cell.textContent = t.nextRunAtMs === null ? 'on demand' : `next run in ${Math.max(0, Math.ceil((t.nextRunAtMs - Date.now()) / 1000))} s`;
  }
}

function showToast(t: Notice): void {
  const el = document.createElement('div');
  el.className = 'toast';
  const title = document.createElement('b');
  title.textContent = t.title;
  el.append(title, document.createTextNode(t.message));
  $('toasts').appendChild(el);
  window.setTimeout(() => el.remove(), TOAST_MS);
}

function showAlert(a: Notice): void {
  alertQueue.push(a);
  if (alertQueue.length === 1) openAlert();
}

function openAlert(): void {
  const a = alertQueue[0];
  if (!a) return;
  $('alert-title').textContent = a.title;
  $('alert-message').textContent = a.message;
  $('alert').classList.remove('hidden');
}

async function loadCsv(text: string): Promise<void> {
  await act(() => api.loadCsv(text));
  // The sidebar read the old columns when it opened; open it again, as a marketer would after replacing the data.
  if (state?.sidebar && state.sidebar.index !== closedSidebar) await act(() => api.menu('showSidebar'));
}

function describe(info: PlaygroundInfo): string {
  const hour = info.hourMs >= 1000 ? `${(info.hourMs / 1000).toLocaleString()} s` : `${info.hourMs} ms`;
  return `Service ${info.serviceUrl} at ${info.messagesPerSecond} msg/s; an Apps Script hour (the add-on's sync trigger) lasts ${hour}; `
    + `data in ${info.dataDir}${info.isDataDirTemporary ? ' (removed when the playground stops)' : ''}.`;
}

function wire(): void {
  $('menu-extensions').addEventListener('click', () => $('menu-extensions-items').classList.toggle('hidden'));
  document.addEventListener('click', (e) => {
    if (!(e.target as HTMLElement).closest('.menu')) $('menu-extensions-items').classList.add('hidden');
  });
  $('sort-asc').addEventListener('click', () => void act(() => api.sort(grid.activeColumn, true)));
  $('sort-desc').addEventListener('click', () => void act(() => api.sort(grid.activeColumn, false)));
  $('filter').addEventListener('input', () => {
    window.clearTimeout(filterTimer);
    filterTimer = window.setTimeout(() => void act(() => api.filter(($('filter') as HTMLInputElement).value)), 200);
  });
  $('add-row').addEventListener('click', () => grid.addRow());
  $('open-csv').addEventListener('click', () => ($('csv-file') as HTMLInputElement).click());
  $('csv-file').addEventListener('change', async () => {
    const file = ($('csv-file') as HTMLInputElement).files?.[0];
    if (file) await loadCsv(await file.text());
    ($('csv-file') as HTMLInputElement).value = '';
  });
  $('load-sample').addEventListener('click', async () => loadCsv(await (await fetch('/sample.csv')).text()));
  const area = $('sheet-area');
  area.addEventListener('dragover', (e) => {
    e.preventDefault();
    area.classList.add('dragging');
  });
  area.addEventListener('dragleave', () => area.classList.remove('dragging'));
  area.addEventListener('drop', async (e) => {
    e.preventDefault();
    area.classList.remove('dragging');
    const file = e.dataTransfer?.files[0];
    if (file) await loadCsv(await file.text());
  });
  $('sidebar-close').addEventListener('click', closeSidebar);
  window.addEventListener('message', (e) => {
    if ((e.data as { type?: string } | null)?.type === 'playground:close-sidebar') closeSidebar();
  });
  $('alert-ok').addEventListener('click', () => {
    alertQueue.shift();
    $('alert').classList.add('hidden');
    openAlert();
  });
  window.setInterval(drawCountdowns, 1000);
}

wire();
void api.info().then((info) => ($('banner-facts').textContent = describe(info)), () => undefined);
void poll();
