// Bundles the service's entry points into dist/service with esbuild (npm packages stay external,
// so better-sqlite3's native module loads from node_modules). Fast enough to run before every start.
import { build } from 'esbuild';
import { existsSync } from 'node:fs';

const entries = {
  main: 'service/main.ts',
  'account-cli': 'service/account-cli.ts',
  'simulator-main': 'service/simulator-main.ts',
  bench: 'service/bench/bench.ts',
  demo: 'service/demo/demo.ts',
  'start-postgres': 'service/devtools/start-postgres.ts',
};
const entryPoints = Object.fromEntries(Object.entries(entries).filter(([, file]) => existsSync(file)));
const started = Date.now();
await build({
  entryPoints,
  outdir: 'dist/service',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  sourcemap: 'linked',
  logLevel: 'warning',
});
if (!process.argv.includes('--quiet')) {
  console.error(`built ${Object.keys(entryPoints).length} service entry points in ${Date.now() - started} ms`);
}
