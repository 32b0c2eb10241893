// Loads the built add-on (dist/addon/Code.js, the file clasp pushes) into a fresh vm context wired to the Apps Script
// fakes, and runs the real service as a black-box child process. Shared by the bundle, sidebar and e2e tests. Test-only.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runInContext, type Context } from 'node:vm';
import { createAppsScriptEnv, readBundle, type AppsScriptEnv } from '../../devtools/apps-script/apps-script-env';
import type { FakeSheet, FakeSpreadsheet } from '../../devtools/apps-script/fake-spreadsheet-app';

export const ROOT = resolve(import.meta.dirname, '../..');
export const ADDON_DIST = join(ROOT, 'dist/addon');

let built = false;
/** Runs build-addon.mjs once per test process (the same build `npm run build:addon` makes). */
export function buildAddon(): void {
  if (built) return;
  execFileSync(process.execPath, ['build-addon.mjs', '--quiet'], { cwd: ROOT, stdio: 'inherit' });
  built = true;
}

export interface BuiltAddon {
  env: AppsScriptEnv;
  context: Context;
  ss: FakeSpreadsheet;
  sheet: FakeSheet;
  /** Calls a global of Code.js as google.script.run or a menu would; values cross as JSON, like the real bridge. */
  call(name: string, ...args: unknown[]): unknown;
  /** Fires an installed trigger's handler through the bundle's global. */
  fire(triggerType: 'CLOCK' | 'ON_FORM_SUBMIT'): unknown;
}

/** A spreadsheet with `rows` under a header, the bundle loaded, and optionally the settings saved. */
export function loadBuiltAddon(header: unknown[], rows: unknown[][], options: { realHttp?: boolean } = {}): BuiltAddon {
  buildAddon();
  const env = createAppsScriptEnv({ realHttp: options.realHttp ?? false, htmlDir: ADDON_DIST });
  const ss = env.SpreadsheetApp.createSpreadsheet('1E2eFakeSpreadsheetId_abcdefghijklmnop', 'Campaign sheet');
  const sheet = ss.addSheet('Contacts', [header, ...rows]);
  const context = env.loadBundle(readBundle(join(ADDON_DIST, 'Code.js')));
  const call = (name: string, ...args: unknown[]): unknown => {
    const fn = runInContext(name, context) as (...a: unknown[]) => unknown;
    // google.script.run copies arguments and results as plain data.
    const result = fn(...(JSON.parse(JSON.stringify(args)) as unknown[]));
    return result === undefined ? undefined : JSON.parse(JSON.stringify(result));
  };
  return {
    env, context, ss, sheet, call,
    fire(type) {
      const trigger = env.ScriptApp.triggers.find((t) => t.type === type);
      if (!trigger) throw new Error(`no ${type} trigger installed`);
      return env.fire(trigger, (name, event) => (runInContext(name, context) as (e: unknown) => unknown)(event));
    },
  };
}

/** The RPC envelope's value, or a thrown error with the add-on's words. */
export function value<T>(result: unknown): T {
  const r = result as { ok: boolean; value?: T; error?: { code: string; message: string } };
  if (!r.ok) throw new Error(`RPC failed: ${r.error?.code}: ${r.error?.message}`);
  return r.value as T;
}

// ---- the real service, black-box ----

/** Builds the service when its sources exist; true when dist/service/main.js is there afterwards. */
export function ensureServiceBuilt(): boolean {
  if (existsSync(join(ROOT, 'service/main.ts'))) {
    try {
      execFileSync(process.execPath, ['build-service.mjs', '--quiet'], { cwd: ROOT, stdio: 'inherit' });
    } catch {
      return false;
    }
  }
  return existsSync(join(ROOT, 'dist/service/main.js'));
}

export interface RunningService {
  url: string;
  apiKey: string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => res(port));
    });
  });
}

/** Starts `node dist/service/main.js` on a free port with a temp DATA_DIR; resolves with the sandbox account's key. */
export async function startService(): Promise<RunningService> {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'addon-e2e-'));
  const url = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(process.execPath, [join(ROOT, 'dist/service/main.js')], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), DATA_DIR: dataDir, PUBLIC_URL: url },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const apiKey = await new Promise<string>((res, rej) => {
    let out = '';
    const timer = setTimeout(() => rej(new Error(`service printed no apiKey within 20 s. stderr: ${stderr}`)), 20_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      for (const line of out.split('\n')) {
        try {
          const j = JSON.parse(line) as { apiKey?: string };
          if (j.apiKey) {
            clearTimeout(timer);
            res(j.apiKey);
          }
        } catch {
          // not a JSON line
        }
      }
    });
    child.once('exit', (code) => rej(new Error(`service exited with ${code}: ${stderr}`)));
  });
  for (let i = 0; i < 100; i += 1) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    apiKey,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
