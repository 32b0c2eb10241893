// How a test file gets PostgreSQL. The run's server comes from postgres-global-setup.ts; without PostgreSQL the
// URL is null and the file's PostgreSQL tests are skipped, not failed:
//
//   import { hasPostgres, scratchDatabase } from '../support/postgres-url';
//   describe.runIf(hasPostgres)('store on PostgreSQL', () => {
//     let url: string;
//     beforeAll(async () => { url = await scratchDatabase('store_test'); });   // a fresh database for this file
//     ...
//   });
import { inject, type TestContext } from 'vitest';
import type {} from './postgres-global-setup'; // the ProvidedContext['postgresUrl'] type
import { createScratchDatabase } from './postgres-server';

const injected: string | null = inject('postgresUrl') ?? null;

/** True when the run has a PostgreSQL server: `describe.runIf(hasPostgres)`, `it.skipIf(!hasPostgres)`. */
export const hasPostgres: boolean = injected !== null;

/** The run's server URL (its default database). Throws when there is none: guard the caller with hasPostgres. */
export function postgresUrl(): string {
  if (injected === null) throw new Error('no PostgreSQL in this run: guard the test with describe.runIf(hasPostgres)');
  return injected;
}

/** Inside a test: the server URL, or the test is marked skipped when there is no PostgreSQL. */
export function postgresUrlOrSkip(context: Pick<TestContext, 'skip'>): string {
  if (injected === null) context.skip('PostgreSQL not installed');
  return injected as string;
}

/**
 * Drops and creates database `name` ([a-z_][a-z0-9_]*, unique per test file) on the run's server; returns its URL.
 * Test files run in parallel: one database each keeps them apart.
 */
export function scratchDatabase(name: string): Promise<string> {
  return createScratchDatabase(postgresUrl(), name);
}
