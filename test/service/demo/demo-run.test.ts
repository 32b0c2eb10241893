// End to end: the demo's run sends a small CSV through an in-process service with a sandbox account, and the copy's
// status columns agree, row by row and by key, with the service's own message list.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MessageItem } from '../../../addon/core/service-contract';
import { loadConfig } from '../../../service/config';
import { formatCsv, parseCsv } from '../../../service/demo/csv';
import { DemoClient } from '../../../service/demo/demo-client';
import { runDemo, type DemoRunResult } from '../../../service/demo/demo-run';
import { DEMO_COMPOSE } from '../../../service/demo/demo-settings';
import { USERNAME_REPLY } from '../../../service/simulator/outcome-rules';
import { startService, type ServiceRuntime } from '../../../service/service-runtime';

const HEADERS = ['First name', 'Last name', 'Phone', 'City', 'Discount', 'Coupon', 'Notes'];
const STATUS = ['WA Key', 'WA Status', 'WA Message ID', 'WA Error', 'WA Reply', 'WA Updated'];

/** 41 rows: ordinary numbers in several formats plus every kind of row that makes the funnel interesting. */
function sampleRecords(): string[][] {
  const formats = [(n: string) => `+91 ${n.slice(0, 5)} ${n.slice(5)}`, (n: string) => `0${n}`, (n: string) => `${n.slice(0, 5)}-${n.slice(5)}`, (n: string) => n];
  const rows: string[][] = [];
  for (let i = 0; i < 31; i += 1) {
    const national = String(9812345670 + i * 1013);
    rows.push([`Name${i}`, 'Sharma', formats[i % formats.length]!(national), 'Pune', '25%', 'SUMMER25', i % 9 === 0 ? 'VIP, "gold" tier\nsecond line' : '']);
  }
  const special: [string, string][] = [
    ['+91 99587 50001', 'fails 131026'], ['98450 20002', 'fails 131049'], ['+91 97040 20003', 'replies STOP'],
    ['+91 97040 20007', 'replies'], ['97040 20013', 'goes by a username: replies with no phone in the webhook'], ['12345', 'invalid'], ['call me', 'invalid'],
    ['098123 45670', 'duplicate of row 1'], ['98200 00077', 'on the opt-out list'], ['', 'no phone'],
  ];
  for (const [phone, note] of special) rows.push(['Priya', "D'Souza", phone, 'Mumbai', '30%', 'VIP-7', note]);
  return [HEADERS, ...rows];
}

describe('runDemo against an in-process service', () => {
  let dataDir: string;
  let runtime: ServiceRuntime;
  let client: DemoClient;
  let input: string[][];
  let output: string[][];
  let result: DemoRunResult;
  let printed = '';

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'demo-run-'));
    runtime = await startService(loadConfig({ DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'silent' }), { isLockFree: true });
    const { apiKey } = await runtime.createAccount({ name: 'Demo test', isSandbox: true, messagesPerSecond: 200, defaultCountry: 'IN' });
    client = new DemoClient(runtime.url, apiKey);
    input = sampleRecords();
    const inputPath = join(dataDir, 'contacts.csv');
    const outputPath = join(dataDir, 'contacts.results.csv');
    writeFileSync(inputPath, formatCsv(input));
    let seed = 7;
    result = await runDemo({
      client, inputPath, outputPath, compose: DEMO_COMPOSE, optedOut: ['+91 98200 00077'],
      out: { isTTY: false, write: (text: string) => (printed += text) },
      pollIntervalMs: 100, quietMs: 1000, settleTimeoutMs: 20_000, sendTimeoutMs: 30_000,
      random: () => ((seed = (seed * 16807) % 2147483647) / 2147483647),
    });
    output = parseCsv(readFileSync(outputPath, 'utf8'));
  });

  afterAll(async () => {
    await runtime?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('settles, and the funnel adds up from the CSV rows down to each outcome', () => {
    const f = result.funnel;
    expect(result.isSettled).toBe(true);
    expect(result.rows).toBe(41);
    expect(result.withoutPhone).toBe(1);
    expect(result.rejected.map((r) => r.code).sort()).toEqual(['duplicate_recipient', 'invalid_phone', 'invalid_phone']);
    expect(f.total).toBe(result.rows - result.withoutPhone - result.rejected.length);
    expect(f.sent + f.failed + f.skipped + f.cancelled + f.waiting).toBe(f.total);
    // What waits is only what WhatsApp held back (131049): queued, with its error, for a retry in 24 h.
    const statusAt = HEADERS.length + STATUS.indexOf('WA Status');
    const errorAt = HEADERS.length + STATUS.indexOf('WA Error');
    const heldBack = output.slice(1).filter((row) => row[statusAt] === 'queued' && /131049/.test(row[errorAt] ?? ''));
    expect(heldBack.length).toBeGreaterThan(0);
    expect(f.waiting).toBe(heldBack.length);
    // The run ends with the campaign's own word on them rather than waiting a day.
    expect(printed).toMatch(/Waiting: WhatsApp held back \d+ marketing messages? .*\(131049\)/);
    expect(f.skipped).toBe(1);
    expect(f.failed).toBeGreaterThanOrEqual(1);
    expect(f.replied).toBeGreaterThanOrEqual(3);
    expect(f.read).toBeLessThanOrEqual(f.delivered);
    expect(f.delivered).toBeLessThanOrEqual(f.sent);
    expect(printed).toMatch(/Funnel \(campaign /);
    expect(printed).toMatch(/rejected at intake\s+3\s+invalid_phone ×2 · duplicate_recipient ×1/);
  });

  it('writes a copy with the six status columns after the data and every original cell unchanged', () => {
    expect(output[0]).toEqual([...HEADERS, ...STATUS]);
    expect(output).toHaveLength(input.length);
    output.slice(1).forEach((row, i) => expect(row.slice(0, HEADERS.length)).toEqual(input[i + 1]));
  });

  it('fills each row\'s status cells from the service\'s message list, matched by key', async () => {
    const latest = new Map<string, MessageItem>();
    for (const item of await client.allMessages(result.campaignId)) latest.set(item.key, item);
    const rejected = new Map(result.rejected.map((r) => [r.key, r]));
    const keys = new Set<string>();
    for (const row of output.slice(1)) {
      const [key, status, wamid, error, reply, updated] = row.slice(HEADERS.length);
      if (row[2]!.trim() === '') {
        expect(row.slice(HEADERS.length)).toEqual(['', '', '', '', '', '']);
        continue;
      }
      expect(key).toMatch(/^[0-9a-z]{10}$/);
      keys.add(key!);
      const item = latest.get(key!);
      if (item) {
        expect({ status, wamid, error, reply, updated }).toEqual({
          status: item.status,
          wamid: item.wamid ?? '',
          error: item.error ? `${item.error.message} (${item.error.code})` : '',
          reply: item.reply?.text ?? '',
          updated: item.updatedAt,
        });
      } else {
        const no = rejected.get(key!);
        expect(no, `row ${row.join('|')} has neither a message nor a rejection`).toBeDefined();
        expect(status).toBe('rejected');
        expect(error).toBe(`${no!.message} (${no!.code})`);
      }
    }
    expect(keys.size).toBe(result.rows - result.withoutPhone);
    expect(latest.size).toBe(result.funnel.total);
  });

  it('shows the outcomes the sandbox promises for the special numbers, and the STOP reply joins the opt-out list', () => {
    const byPhone = new Map(output.slice(1).map((row) => [row[2]!, row.slice(HEADERS.length)]));
    expect(byPhone.get('+91 99587 50001')?.[3]).toMatch(/\(131026\)$/);
    expect(byPhone.get('98450 20002')?.[3]).toMatch(/\(131049\)$/);
    expect(byPhone.get('+91 97040 20003')?.[4]).toBe('STOP');
    expect(byPhone.get('+91 97040 20007')?.[4]).not.toBe('');
    expect(byPhone.get('98200 00077')?.[1]).toBe('skipped');
    // The username user's reply names no phone (only `from_user_id`): it lands on their row through the BSUID the
    // service learnt from the statuses of its own send, and the demo lists it under the funnel.
    expect(byPhone.get('97040 20013')?.[4]).toBe(USERNAME_REPLY);
    const rowNumber = output.findIndex((row) => row[2] === '97040 20013') + 1;
    expect(printed).toContain(`row ${rowNumber}  97040 20013 (IN.`);
    expect(printed).toContain(JSON.stringify(USERNAME_REPLY));
    expect(printed).toMatch(/Opt-out list: 1 number before the send, 2 numbers after/);
  });
});
