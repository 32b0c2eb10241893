// The sidebar's behaviour: settings, compose (mapping, preview, test send, send now/at/recurring) and watch
// (progress, funnel, pause/resume/cancel). Talks to the server only through rpc.ts; renders with DOM APIs only.
import type { ErrorInfo } from '../core/addon-error';
import type { ComposeConfig, ParamSource, SelectionMode } from '../core/column-mapping';
import type { Recurrence } from '../core/recurrence';
import type { CampaignProgress, ComposeContext, PreviewView, SendProgress } from '../core/rpc-api';
import { healthBanner } from '../core/health-banner';
import type { Account, Campaign, HeaderMediaType, Template } from '../core/service-contract';
import { renderWhatsAppText } from '../core/whatsapp-format';
import { call } from './rpc';

type View = 'compose' | 'watch' | 'settings';
const FIXED = '__fixed__';
const POLL_MS = 5000;

let context: ComposeContext | null = null;
let watching: string | null = null;
let pollTimer: number | undefined;

function $(id: string): HTMLElement {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el;
}
const input = (id: string) => $(id) as HTMLInputElement;
const select = (id: string) => $(id) as HTMLSelectElement;

function show(id: string, visible: boolean): void {
  $(id).classList.toggle('hidden', !visible);
}

function showError(error: unknown): void {
  const info = error as Partial<ErrorInfo>;
  $('error').textContent = info?.message ?? String(error);
  show('error', true);
}

/** Runs an action with the busy note shown and errors displayed in words. */
async function act<T>(fn: () => Promise<T>): Promise<T | undefined> {
  show('error', false);
  show('busy', true);
  try {
    return await fn();
  } catch (error) {
    showError(error);
    return undefined;
  } finally {
    show('busy', false);
  }
}

function setOptions(el: HTMLSelectElement, options: [value: string, label: string][], selected?: string | null): void {
  el.textContent = '';
  for (const [value, label] of options) {
    const o = document.createElement('option');
    o.value = value;
    o.textContent = label;
    el.appendChild(o);
  }
  if (selected !== undefined && selected !== null && options.some(([v]) => v === selected)) el.value = selected;
}

function switchView(view: View): void {
  for (const v of ['compose', 'watch', 'settings'] as View[]) {
    show(`view-${v}`, v === view);
    $(`tab-${v}`).classList.toggle('active', v === view);
  }
  window.clearInterval(pollTimer);
  if (view === 'watch') {
    void refreshWatch();
    pollTimer = window.setInterval(() => void refreshWatch(), POLL_MS);
  }
}

// ---- settings ----

async function loadSettings(): Promise<void> {
  const s = await act(() => call('getSettings'));
  if (!s) return;
  input('service-url').value = s.serviceUrl;
  input('test-number').value = s.testNumber;
  input('test-to').value = input('test-to').value || s.testNumber;
  $('key-hint').textContent = s.hasApiKey ? `Saved key ${s.apiKeyHint}; leave empty to keep it.` : '';
  renderAccount(s.account);
}

/** The last account read (settings, compose), for the health banner next to the watched campaign's reason. */
let lastAccount: Account | null = null;

/** Meta's restriction, a flagged quality, or a template pause of the watched campaign, above every view. */
function renderHealthBanner(campaign: Campaign | null = null): void {
  const text = healthBanner(lastAccount, campaign);
  $('health-banner').textContent = text ?? '';
  show('health-banner', text !== null);
}

function renderAccount(account: ComposeContext['account'] | null): void {
  lastAccount = account;
  renderHealthBanner();
  const el = $('account');
  el.textContent = '';
  if (!account) return;
  const line = document.createElement('div');
  line.className = 'ok';
  line.textContent = `Connected: ${account.name}${account.sandbox ? ' (sandbox)' : ''}.`;
  el.appendChild(line);
  if (account.serviceAccountEmail) {
    const share = document.createElement('div');
    share.id = 'service-account';
    share.textContent = `To have results written even while this sheet is closed, share it (Editor) with ${account.serviceAccountEmail}.`;
    el.appendChild(share);
  }
}

async function saveSettings(): Promise<void> {
  const s = await act(() => call('saveSettings', input('service-url').value, input('api-key').value, input('test-number').value));
  if (!s) return;
  input('api-key').value = '';
  $('key-hint').textContent = `Saved key ${s.apiKeyHint}.`;
  renderAccount(s.account);
  await loadCompose(null);
  switchView('compose');
}

// ---- compose ----

async function loadCompose(sheetName: string | null): Promise<boolean> {
  const ctx = await act(() => call('getComposeContext', sheetName));
  if (!ctx) return false;
  context = ctx;
  lastAccount = ctx.account;
  renderHealthBanner();
  const last = ctx.lastCompose && ctx.lastCompose.sheetName === ctx.sheetName ? ctx.lastCompose : null;
  setOptions(select('sheet'), ctx.sheetNames.map((n) => [n, n]), ctx.sheetName);
  const columns: [string, string][] = ctx.headers.map((h) => [h, h]);
  setOptions(select('phone-column'), columns, last?.phoneColumn ?? ctx.detectedPhoneColumn);
  input('country').value = last?.defaultCountry ?? ctx.account.defaultCountry ?? '';
  setOptions(select('template'), ctx.templates.map((t) => [templateId(t), `${t.name} (${t.language})`]),
    last ? `${last.template.name}|${last.template.language}` : null);
  setOptions(select('media-source'), [...columns, [FIXED, 'A fixed URL…']]);
  input('campaign-name').value = last?.campaignName ?? '';
  renderParams(last);
  setOptions(select('campaign'), ctx.campaigns.map((c) => [c.id, `${c.name} · ${c.state ?? '…'}`]), watching);
  $('recurring-note').textContent = ctx.recurring
    ? `Repeats ${ctx.recurring.recurrence} for "${ctx.recurring.campaignName}"${ctx.recurring.lastRunAt ? `, last run ${ctx.recurring.lastRunAt.slice(0, 16).replace('T', ' ')}` : ''}.`
    : '';
  if (ctx.activeSend) void driveUpload(ctx.activeSend);
  return true;
}

function templateId(t: { name: string; language: string }): string {
  return `${t.name}|${t.language}`;
}

function currentTemplate(): Template | null {
  return context?.templates.find((t) => templateId(t) === select('template').value) ?? null;
}

function renderParams(last: ComposeConfig | null): void {
  const box = $('params');
  box.textContent = '';
  const template = currentTemplate();
  if (!template || !context) return;
  const headers = context.headers;
  for (const p of template.parameters) {
    const wrap = document.createElement('div');
    wrap.className = 'param';
    const label = document.createElement('label');
    label.textContent = `{{${p.key}}} in ${p.component}${p.example ? ` · e.g. ${p.example}` : ''}`;
    const sel = document.createElement('select');
    sel.dataset.param = p.key;
    setOptions(sel, [...headers.map((h): [string, string] => [h, h]), [FIXED, 'A fixed value…']]);
    const fixed = document.createElement('input');
    fixed.dataset.fixed = p.key;
    fixed.placeholder = 'same text for every row';
    const previous = last?.params[p.key];
    if (previous?.kind === 'column') sel.value = previous.column;
    else if (previous?.kind === 'fixed') {
      sel.value = FIXED;
      fixed.value = previous.value;
    } else {
      sel.value = guessColumn(p.key, p.example ?? '', headers) ?? FIXED;
    }
    fixed.classList.toggle('hidden', sel.value !== FIXED);
    sel.addEventListener('change', () => fixed.classList.toggle('hidden', sel.value !== FIXED));
    label.htmlFor = sel.id = `param-${p.key.replace(/\W/g, '_')}`;
    wrap.append(label, sel, fixed);
    box.appendChild(wrap);
  }
  const hasMedia = template.headerFormat === 'image' || template.headerFormat === 'video' || template.headerFormat === 'document';
  input('media-on').checked = hasMedia || Boolean(last?.headerMedia);
  if (hasMedia) select('media-type').value = template.headerFormat as string;
  show('media-fields', input('media-on').checked);
}

/** Named parameters often match a header ("first_name" → "First name"). */
function guessColumn(key: string, _example: string, headers: string[]): string | null {
  const k = key.toLowerCase().replace(/[^a-z0-9]/g, '');
  return headers.find((h) => h.toLowerCase().replace(/[^a-z0-9]/g, '') === k) ?? null;
}

function readConfig(): ComposeConfig {
  const template = currentTemplate();
  if (!context || !template) throw { code: 'invalid_input', message: 'Pick a template first.' } satisfies ErrorInfo;
  const params: Record<string, ParamSource> = {};
  for (const p of template.parameters) {
    const sel = document.querySelector<HTMLSelectElement>(`select[data-param="${CSS.escape(p.key)}"]`)!;
    const fixed = document.querySelector<HTMLInputElement>(`input[data-fixed="${CSS.escape(p.key)}"]`)!;
    params[p.key] = sel.value === FIXED ? { kind: 'fixed', value: fixed.value } : { kind: 'column', column: sel.value };
  }
  const selection = (document.querySelector<HTMLInputElement>('input[name=selection]:checked')?.value ?? 'all') as SelectionMode;
  const when = document.querySelector<HTMLInputElement>('input[name=when]:checked')?.value ?? 'now';
  const config: ComposeConfig = {
    sheetName: context.sheetName,
    phoneColumn: select('phone-column').value,
    template: { name: template.name, language: template.language },
    params,
    selection,
    campaignName: input('campaign-name').value.trim(),
    sendAt: null,
  };
  const country = input('country').value.trim().toUpperCase();
  if (country) config.defaultCountry = country;
  if (input('media-on').checked) {
    const source: ParamSource = select('media-source').value === FIXED
      ? { kind: 'fixed', value: input('media-url').value.trim() }
      : { kind: 'column', column: select('media-source').value };
    config.headerMedia = { type: select('media-type').value as HeaderMediaType, source };
  }
  if (when === 'at') {
    const at = input('send-at').value;
    if (!at) throw { code: 'invalid_input', message: 'Pick the date and time to send at.' } satisfies ErrorInfo;
    config.sendAt = new Date(at).toISOString();
  }
  return config;
}

async function preview(): Promise<void> {
  const p = await act(async () => call('previewSend', readConfig()));
  if (p) renderPreview(p);
}

function renderPreview(p: PreviewView): void {
  show('preview-out', true);
  $('count-valid').textContent = String(p.valid);
  $('count-invalid').textContent = String(p.invalid);
  $('count-duplicate').textContent = String(p.duplicate);
  $('count-optedout').textContent = String(p.optedOut);
  $('count-other').textContent = p.otherProblems > 0 ? `${p.otherProblems} row(s) refused for other reasons.` : `${p.selectedRows} row(s) selected.`;
  const bubbles = $('bubbles');
  bubbles.textContent = '';
  for (const s of p.samples) {
    const b = document.createElement('div');
    b.className = s.ok ? 'bubble' : 'bubble bad';
    const to = document.createElement('span');
    to.className = 'to';
    to.textContent = s.to;
    const text = document.createElement('div');
    // renderWhatsAppText escapes every character of the sheet's text before adding its own tags.
    text.innerHTML = s.ok ? renderWhatsAppText(s.text) : '';
    if (!s.ok) text.textContent = s.problem ?? 'will not be sent';
    b.append(to, text);
    bubbles.appendChild(b);
  }
  $('problems').textContent = p.problems.slice(0, 5).map((x) => `${x.to || '(empty)'}: ${x.reason}`).join(' · ');
}

async function testSend(): Promise<void> {
  const r = await act(async () => call('sendTest', readConfig(), input('test-to').value));
  if (r) $('test-result').textContent = r.error ? `Not sent: ${r.error.message}` : `Test message ${r.status}.`;
}

async function send(): Promise<void> {
  const when = document.querySelector<HTMLInputElement>('input[name=when]:checked')?.value ?? 'now';
  if (when === 'recurring') {
    const r = await act(async () => call('setRecurringSend', readConfig(), select('recurrence').value as Recurrence));
    if (r) $('recurring-note').textContent = `Saved: new rows are sent ${r.recurrence === 'form' ? 'on each form submission' : r.recurrence}.`;
    return;
  }
  const progress = await act(async () => call('startSend', readConfig()));
  if (!progress) return;
  watching = progress.campaignId;
  await loadCompose(context?.sheetName ?? null);
  switchView('watch');
  await driveUpload(progress);
}

/** Keeps calling continueSend while rows remain: each call is a fresh 6-minute execution. */
async function driveUpload(progress: SendProgress): Promise<void> {
  let p: SendProgress | null = progress;
  watching = p.campaignId;
  while (p && !p.done) {
    $('upload').textContent = `Uploading ${p.uploaded.toLocaleString()} of ${p.total.toLocaleString()} rows…`;
    show('upload', true);
    if (p.error) {
      showError(p.error);
      return;
    }
    p = await act(() => call('continueSend')) ?? null;
  }
  show('upload', false);
  void refreshWatch();
}

// ---- watch ----

async function refreshWatch(): Promise<void> {
  const id = watching ?? select('campaign').value;
  if (!id) return;
  watching = id;
  try {
    renderProgress(await call('getCampaignProgress', id));
  } catch (error) {
    showError(error);
  }
}

function renderProgress(p: CampaignProgress): void {
  $('state').textContent = p.campaign.state;
  renderHealthBanner(p.campaign);
  const pct = Math.round(p.funnel.progress * 100);
  $('progress-text').textContent = `${pct}% of ${p.funnel.total.toLocaleString()}`;
  $('progress-bar').style.width = `${pct}%`;
  const funnel = $('funnel');
  funnel.textContent = '';
  const steps: [string, number][] = [
    ['sent', p.funnel.sent], ['delivered', p.funnel.delivered], ['read', p.funnel.read], ['replied', p.funnel.replied],
    ['failed', p.funnel.failed], ['opted out', p.funnel.skipped],
  ];
  for (const [label, n] of steps) {
    const row = document.createElement('div');
    row.className = 'funnel-row';
    row.dataset.step = label;
    const name = document.createElement('span');
    name.textContent = label;
    const bar = document.createElement('div');
    bar.className = 'bar';
    const fill = document.createElement('div');
    fill.style.width = `${p.funnel.total === 0 ? 0 : Math.round((n / p.funnel.total) * 100)}%`;
    bar.appendChild(fill);
    const count = document.createElement('span');
    count.className = 'count';
    count.textContent = n.toLocaleString();
    row.append(name, bar, count);
    funnel.appendChild(row);
  }
  const s = p.campaign.state;
  (document.getElementById('pause') as HTMLButtonElement).disabled = !(s === 'running' || s === 'scheduled');
  (document.getElementById('resume') as HTMLButtonElement).disabled = s !== 'paused';
  (document.getElementById('cancel') as HTMLButtonElement).disabled = s === 'finished' || s === 'cancelled';
}

async function control(action: 'pauseCampaign' | 'resumeCampaign' | 'cancelCampaign'): Promise<void> {
  const id = watching;
  if (!id) return;
  if (action === 'cancelCampaign' && !window.confirm('Cancel this campaign? Messages not yet sent will not be sent.')) return;
  if (await act(() => call(action, id))) await refreshWatch();
}

async function sync(): Promise<void> {
  const r = await act(() => call('syncNow'));
  if (r) $('sync-result').textContent = `${r.rowsChanged.toLocaleString()} row(s) updated in the sheet.`;
}

// ---- wiring ----

function wire(): void {
  for (const v of ['compose', 'watch', 'settings'] as View[]) $(`tab-${v}`).addEventListener('click', () => switchView(v));
  $('save-settings').addEventListener('click', () => void saveSettings());
  select('sheet').addEventListener('change', () => void loadCompose(select('sheet').value));
  select('template').addEventListener('change', () => renderParams(null));
  input('media-on').addEventListener('change', () => show('media-fields', input('media-on').checked));
  select('media-source').addEventListener('change', () => show('media-url', select('media-source').value === FIXED));
  for (const r of document.querySelectorAll<HTMLInputElement>('input[name=when]')) {
    r.addEventListener('change', () => {
      show('send-at', r.value === 'at' && r.checked);
      show('recurrence', r.value === 'recurring' && r.checked);
      $('send').textContent = r.value === 'recurring' ? 'Save schedule' : r.value === 'at' ? 'Schedule' : 'Send';
    });
  }
  $('preview').addEventListener('click', () => void preview());
  $('test-send').addEventListener('click', () => void testSend());
  $('send').addEventListener('click', () => void send());
  select('campaign').addEventListener('change', () => {
    watching = select('campaign').value;
    void refreshWatch();
  });
  $('pause').addEventListener('click', () => void control('pauseCampaign'));
  $('resume').addEventListener('click', () => void control('resumeCampaign'));
  $('cancel').addEventListener('click', () => void control('cancelCampaign'));
  $('sync').addEventListener('click', () => void sync());
}

async function start(): Promise<void> {
  wire();
  const initial = (window as unknown as { __initialView?: View }).__initialView ?? 'compose';
  await loadSettings();
  if (initial === 'settings' || !(await loadCompose(null))) {
    switchView('settings');
    return;
  }
  switchView('compose');
  // "Results arrive on sidebar open": pull quietly in the background.
  call('syncNow').catch(() => undefined);
}

void start();
