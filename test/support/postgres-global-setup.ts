// Vitest globalSetup: one PostgreSQL server for the whole run, its URL handed to the test files through
// provide/inject (and TEST_DATABASE_URL for child processes). TEST_DATABASE_URL already set: that server is used
// and nothing is started. No PostgreSQL installed: the URL is null and the PostgreSQL tests skip themselves
// (see postgres-url.ts); one line says so.
import type { TestProject } from 'vitest/node';
import { startPostgres } from './postgres-server';

declare module 'vitest' {
  export interface ProvidedContext {
    /** postgres://… of the run's server, or null when PostgreSQL is not installed. */
    postgresUrl: string | null;
  }
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const given = process.env.TEST_DATABASE_URL;
  if (given) {
    project.provide('postgresUrl', given);
    return undefined;
  }
  const server = await startPostgres();
  if (server === null) {
    project.provide('postgresUrl', null);
    console.warn('PostgreSQL not found (no initdb): the PostgreSQL tests are skipped. Install it with: apt-get install -y postgresql');
    return undefined;
  }
  process.env.TEST_DATABASE_URL = server.url;
  project.provide('postgresUrl', server.url);
  return async () => {
    delete process.env.TEST_DATABASE_URL;
    await server.stop();
  };
}
