// The built files clasp pushes: Code.js exposes every main.ts export as a top-level function, its module level
// touches no Apps Script service (so the menu works in AuthMode.NONE), and the manifest asks for exactly four scopes.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createContext, runInContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { ADDON_DIST, buildAddon } from './built-addon';

describe('the built add-on', () => {
  buildAddon();
  const code = readFileSync(join(ADDON_DIST, 'Code.js'), 'utf8');

  it('declares a top-level function for every global the menu, sidebar and triggers call', () => {
    for (const name of ['onOpen', 'onInstall', 'showSidebar', 'showSettings', 'menuSyncNow', 'startSend', 'continueSend', 'syncNow',
      'previewSend', 'sendTest', 'getComposeContext', 'saveSettings', 'getSettings', 'getCampaignProgress', 'pauseCampaign',
      'resumeCampaign', 'cancelCampaign', 'setRecurringSend', 'onClockTick', 'onFormSubmitTrigger']) {
      expect(code, name).toMatch(new RegExp(`^function ${name}\\(\\) \\{$`, 'm'));
    }
    console.info(`Code.js ${statSync(join(ADDON_DIST, 'Code.js')).size} bytes, Sidebar.html ${statSync(join(ADDON_DIST, 'Sidebar.html')).size} bytes`);
  });

  it('builds the menu in AuthMode.NONE, where every service but the menu throws', () => {
    const items: string[] = [];
    const forbidden = (name: string) => new Proxy({}, { get: (_t, p) => { throw new Error(`${name}.${String(p)} used in AuthMode.NONE`); } });
    const menu = { addItem: (_l: string, fn: string) => (items.push(fn), menu), addSeparator: () => menu, addToUi: () => undefined };
    const context = createContext({
      SpreadsheetApp: { getUi: () => ({ createAddonMenu: () => menu }) },
      PropertiesService: forbidden('PropertiesService'), UrlFetchApp: forbidden('UrlFetchApp'), ScriptApp: forbidden('ScriptApp'),
      LockService: forbidden('LockService'), HtmlService: forbidden('HtmlService'),
    });
    runInContext(code, context);
    runInContext('onOpen({ authMode: "NONE" })', context);
    expect(items).toEqual(['showSidebar', 'menuSyncNow', 'showSettings']);
  });

  it('ships a V8 manifest with exactly the four scopes and an https allowlist', () => {
    const manifest = JSON.parse(readFileSync(join(ADDON_DIST, 'appsscript.json'), 'utf8')) as Record<string, unknown>;
    expect(manifest.runtimeVersion).toBe('V8');
    expect(manifest.oauthScopes).toEqual([
      'https://www.googleapis.com/auth/script.container.ui',
      'https://www.googleapis.com/auth/spreadsheets',
      'https://www.googleapis.com/auth/script.external_request',
      'https://www.googleapis.com/auth/script.scriptapp',
    ]);
    for (const prefix of manifest.urlFetchWhitelist as string[]) expect(prefix).toMatch(/^https:\/\/[^/]+\/.*$/);
    expect(JSON.parse(readFileSync(join(ADDON_DIST, '../../.clasp.json'), 'utf8'))).toMatchObject({ rootDir: 'dist/addon' });
  });

  it('inlines the sidebar script into one HTML file', () => {
    const html = readFileSync(join(ADDON_DIST, 'Sidebar.html'), 'utf8');
    expect(html).not.toContain('@inline-script');
    expect(html).not.toMatch(/<script[^>]+src=/);
    expect(html).toContain('google.script.run');
  });
});
