import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // One PostgreSQL server for the run (or TEST_DATABASE_URL's); test files read it with test/support/postgres-url.ts.
    globalSetup: ['test/support/postgres-global-setup.ts'],
  },
});
