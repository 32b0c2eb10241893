// Builds a test world for server tests: the Apps Script fakes installed as globals, the stub service answering
// UrlFetchApp, and a spreadsheet of contacts. Test-only.
import type { ComposeConfig } from '../../../addon/core/column-mapping';
import type { RpcResult } from '../../../addon/core/rpc-api';
import { createAppsScriptEnv, type AppsScriptEnv } from '../../../devtools/apps-script/apps-script-env';
import type { FakeSheet, FakeSpreadsheet } from '../../../devtools/apps-script/fake-spreadsheet-app';
import { STUB_KEY, STUB_URL, StubService } from './stub-service';

export interface World {
  env: AppsScriptEnv;
  stub: StubService;
  ss: FakeSpreadsheet;
  sheet: FakeSheet;
  uninstall: () => void;
}

/** `n` contact rows: Name, Phone (unique US numbers), Order. */
export function contacts(n: number, from = 0): unknown[][] {
  return Array.from({ length: n }, (_, k) => {
    const i = k + from;
    return [`Name ${String(i).padStart(6, '0')}`, `+1415${String(2000000 + i).padStart(7, '0')}`, `A-${i}`];
  });
}

export function makeWorld(rows: unknown[][], options: { configured?: boolean } = {}): World {
  const env = createAppsScriptEnv();
  const stub = new StubService();
  env.UrlFetchApp.handlers.unshift(stub.handler);
  const ss = env.SpreadsheetApp.createSpreadsheet('ss-1', 'Customers');
  const sheet = ss.addSheet('Contacts', [['Name', 'Phone', 'Order'], ...rows]);
  if (options.configured ?? true) env.PropertiesService.user.setProperties({ serviceUrl: STUB_URL, apiKey: STUB_KEY });
  const uninstall = env.install();
  return { env, stub, ss, sheet, uninstall };
}

export const composeConfig: ComposeConfig = {
  sheetName: 'Contacts',
  phoneColumn: 'Phone',
  defaultCountry: 'US',
  template: { name: 'order_update', language: 'en' },
  params: { '1': { kind: 'column', column: 'Name' }, '2': { kind: 'column', column: 'Order' } },
  selection: 'all',
};

/** The value of a successful RPC; fails the test with the error's words otherwise. */
export function unwrap<T>(result: RpcResult<T>): T {
  if (!result.ok) throw new Error(`RPC failed: ${result.error.code}: ${result.error.message}`);
  return result.value;
}
