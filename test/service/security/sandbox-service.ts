// The in-process service the security tests drive (temp DATA_DIR, sandbox accounts, the built-in simulator), plus
// what they share: auth headers, polling, database snapshots, a route walk of the Express app and a leak finder.
// Test-only.
import type Database from 'better-sqlite3';
import type { Express } from 'express';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { expect } from 'vitest';
import type { Logger } from '../../../service/campaigns/ports';
import { loadConfig } from '../../../service/config';
import { startService, type ServiceRuntime } from '../../../service/service-runtime';
import type { SqliteStore } from '../../../service/adapters/sqlite/sqlite-store';

export const TEMPLATE = { name: 'summer_sale', language: 'en_US' };

export interface SandboxService {
  runtime: ServiceRuntime;
  dataDir: string;
  api(): ReturnType<typeof request>;
  stop(): Promise<void>;
}

export async function startSandboxService(
  options: { logger?: Logger; env?: Record<string, string>; dataDir?: string } = {},
): Promise<SandboxService> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'security-'));
  // The per-account rate limit is lifted unless a test sets it: these tests make hundreds of calls a second.
  const config = loadConfig({
    DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'silent', RATE_LIMIT_PER_SECOND: '1000000', RATE_LIMIT_BURST: '1000000', ...options.env,
  });
  const runtime = await startService(config, { isLockFree: true, ...(options.logger ? { logger: options.logger } : {}) });
  let isStopped = false;
  return {
    runtime,
    dataDir,
    api: () => request(runtime.server),
    async stop() {
      if (isStopped) return;
      isStopped = true;
      await runtime.stop();
    },
  };
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export function auth(key: string): { Authorization: string } {
  return { Authorization: `Bearer ${key}` };
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function waitFor<T>(probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 15_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await sleep(intervalMs);
  }
}

/**
 * Waits until the sandbox has delivered every webhook it scheduled and the service applied them all, so the
 * database stops changing on its own (before a snapshot is taken).
 */
export async function settle(service: SandboxService): Promise<void> {
  const { runtime } = service;
  await runtime.sandboxSimulator.idle(15_000);
  await waitFor(() => {
    const pending = (runtime.store as SqliteStore).db.prepare('SELECT COUNT(*) AS n FROM webhook_inbox').get() as { n: number };
    return pending.n === 0 ? true : undefined;
  });
  // One more turn for the drain timer's last apply.
  await sleep(50);
}

/** Every row of every table, ordered, as plain JSON (BLOBs as hex) — equal snapshots mean nothing was written. */
export function snapshotTables(db: Database.Database, options: { except?: string[] } = {}): Record<string, unknown[]> {
  const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
    .all() as { name: string }[]).map((t) => t.name).filter((name) => !(options.except ?? []).includes(name));
  const out: Record<string, unknown[]> = {};
  for (const name of tables) {
    const rows = db.prepare(`SELECT * FROM "${name}"`).all() as Record<string, unknown>[];
    out[name] = rows
      .map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, Buffer.isBuffer(v) ? v.toString('hex') : v])))
      .map((row) => JSON.stringify(row))
      .sort();
  }
  return out;
}

/** The rows one account owns, in every table that records an owner. */
export function snapshotAccount(db: Database.Database, accountId: string): Record<string, unknown[]> {
  const owned = (sql: string): string[] => (db.prepare(sql).all(accountId) as Record<string, unknown>[])
    .map((row) => JSON.stringify(row)).sort();
  return {
    accounts: owned('SELECT * FROM accounts WHERE id = ?'),
    campaigns: owned('SELECT * FROM campaigns WHERE account_id = ?'),
    messages: owned('SELECT * FROM messages WHERE account_id = ?'),
    suppressions: owned('SELECT * FROM suppressions WHERE account_id = ?'),
  };
}

export interface DiscoveredRoute {
  method: string;
  path: string;
}

/**
 * Every route of the running app, read from Express's own router stack (router 2.x layers keep `rawPath`), mounted
 * routers included, so a route added later shows up here without anyone listing it.
 */
export function discoverRoutes(runtime: ServiceRuntime): DiscoveredRoute[] {
  const app = runtime.server.listeners('request')[0] as Express & { router: { stack: Layer[] } };
  expect(typeof app).toBe('function');
  const found: DiscoveredRoute[] = [];
  walk(app.router.stack, '', found);
  return found;
}

interface Layer {
  rawPath?: unknown;
  route?: { path: unknown; methods: Record<string, boolean> };
  handle: { stack?: Layer[] };
}

function walk(stack: Layer[], prefix: string, found: DiscoveredRoute[]): void {
  for (const layer of stack) {
    if (layer.route) {
      const paths = Array.isArray(layer.route.path) ? layer.route.path : [layer.route.path];
      for (const path of paths) {
        if (typeof path !== 'string') throw new Error(`route with a non-string path under ${prefix}: ${String(path)}`);
        for (const [method, isOn] of Object.entries(layer.route.methods)) {
          if (isOn) found.push({ method: method === '_all' ? 'ALL' : method.toUpperCase(), path: join2(prefix, path) });
        }
      }
    } else if (Array.isArray(layer.handle.stack)) {
      const mount = typeof layer.rawPath === 'string' ? layer.rawPath : '/';
      walk(layer.handle.stack, join2(prefix, mount), found);
    }
  }
}

function join2(prefix: string, path: string): string {
  const joined = `${prefix}/${path}`.replace(/\/+/g, '/');
  return joined.length > 1 ? joined.replace(/\/$/, '') : joined;
}

/** Each needle (a value another account must never see) found in `text`, except those in `allowed`. */
export function leaksIn(text: string, needles: readonly string[], allowed: readonly string[] = []): string[] {
  return needles.filter((needle) => needle.length > 0 && !allowed.includes(needle) && text.includes(needle));
}
