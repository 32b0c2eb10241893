// Bundles the playground (`npm run playground`) into dist/playground: the Node entry (service in process, page
// server) and its Apps Script worker, the page's script, the google.script.run bridge for the sidebar, and the page.
// Needs dist/addon (build-addon.mjs) at run time, not at build time.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';

const OUT = 'dist/playground';
const started = Date.now();
mkdirSync(OUT, { recursive: true });
await Promise.all([
  build({
    entryPoints: { playground: 'devtools/playground/playground.ts', 'apps-script-worker': 'devtools/playground/apps-script-worker.ts' },
    outdir: OUT, bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', sourcemap: 'linked',
    logLevel: 'warning',
  }),
  build({
    entryPoints: { page: 'devtools/playground/page/main.ts', 'sidebar-bridge': 'devtools/playground/page/sidebar-bridge.ts' },
    outdir: OUT, bundle: true, platform: 'browser', format: 'iife', target: 'es2020', logLevel: 'warning',
  }),
]);
copyFileSync('devtools/playground/page/index.html', `${OUT}/index.html`);
if (!process.argv.includes('--quiet')) console.error(`built dist/playground in ${Date.now() - started} ms`);
