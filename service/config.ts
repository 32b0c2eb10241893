// The service's configuration: the only reader of process.env. Fails fast with every problem listed.
import { z } from 'zod';

const schema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  DATA_DIR: z.string().min(1).default('./data'),
  PUBLIC_URL: z.string().url().optional(),
  GRAPH_API_URL: z.string().url().default('https://graph.facebook.com'),
  GRAPH_API_VERSION: z.string().regex(/^v\d+\.\d+$/, 'like v23.0').default('v23.0'),
  SECRET_KEY: z.string().min(16).optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** A send no webhook settles within this becomes `unknown`. */
  RECONCILE_AFTER_MS: z.coerce.number().int().min(1000).default(10 * 60 * 1000),
  /** Tries of a frequency-capped (131049) marketing message after the first, each 24 h after the last failure. */
  FREQUENCY_CAP_RETRIES: z.coerce.number().int().min(0).max(30).default(3),
  /** How long to wait for the Cloud API's answer to one send. */
  SEND_TIMEOUT_MS: z.coerce.number().int().min(100).default(30_000),
  /** Sustained /v1 requests per second per account, and the burst allowed on top (token bucket). */
  RATE_LIMIT_PER_SECOND: z.coerce.number().positive().default(20),
  RATE_LIMIT_BURST: z.coerce.number().int().min(1).default(100),
  GOOGLE_APPLICATION_CREDENTIALS: z.string().optional(),
  /** Sheets API base URL (tests point it at a local fake). */
  SHEETS_API_URL: z.string().url().optional(),
  /** postgres://user:pass@host:port/db: all state in PostgreSQL, shared by several instances; unset: SQLite in DATA_DIR. */
  DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\/\S+$/, 'a postgres:// URL').optional(),
  /** PostgreSQL connections of this instance (instances × this must stay under the server's max_connections). */
  DATABASE_POOL_SIZE: z.coerce.number().int().min(2).max(100).default(10),
  /** A dead instance's senders are taken over within about this long (its lease must expire first). */
  LEASE_TTL_MS: z.coerce.number().int().min(3000).max(120_000).default(10_000),
});

export type Config = z.infer<typeof schema> & { publicUrl: string };

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`);
    throw new Error(`Invalid configuration:\n${lines.join('\n')}`);
  }
  return { ...parsed.data, publicUrl: (parsed.data.PUBLIC_URL ?? `http://localhost:${parsed.data.PORT}`).replace(/\/+$/, '') };
}
