// The playground's web page and its API: the grid page, the sidebar as the add-on served it (with google.script.run
// bridged here), and JSON routes the page and the sidebar call, each relayed to the Apps Script worker.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { CellRange, HostRequest, PlaygroundInfo } from './playground-protocol';

export interface PageServerOptions {
  /** Relays one request to the Apps Script worker. */
  relay: (request: HostRequest) => Promise<unknown>;
  /** dist/playground: index.html, page.js, sidebar-bridge.js. */
  assetsDir: string;
  /** The sample contacts the page's "Sample contacts" button loads. */
  sampleCsvPath: string;
  info: PlaygroundInfo;
}

/** A CSV of a few thousand rows is a few hundred KB; 20 MB leaves room for a large sheet dropped on the grid. */
const BODY_LIMIT = '20mb';

export function createPageApp(o: PageServerOptions): express.Express {
  const app = express();
  const asset = (file: string, type: string) => (_req: Request, res: Response): void => {
    res.type(type).set('Cache-Control', 'no-store').send(readFileSync(join(o.assetsDir, file)));
  };
  app.get('/', asset('index.html', 'html'));
  app.get('/page.js', asset('page.js', 'js'));
  app.get('/sidebar-bridge.js', asset('sidebar-bridge.js', 'js'));
  app.get('/sample.csv', (_req, res) => void res.type('text/csv').send(readFileSync(o.sampleCsvPath, 'utf8')));
  app.get('/api/info', (_req, res) => void res.json(o.info));
  app.get('/favicon.ico', (_req, res) => void res.status(204).end());

  const relay = (build: (req: Request) => HostRequest) => async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    try {
      const value = await o.relay(build(req));
      res.set('Cache-Control', 'no-store').json(value === undefined ? {} : { value });
    } catch (error) {
      next(error);
    }
  };
  app.get('/api/state', relay((req) => ({ method: 'state', since: Number(req.query.since ?? -1) })));
  app.get('/sidebar/:index', async (req, res, next) => {
    try {
      const html = await o.relay({ method: 'sidebarHtml', index: Number(req.params.index) });
      res.type('html').set('Cache-Control', 'no-store').send(String(html));
    } catch (error) {
      next(error);
    }
  });
  const json = express.json({ limit: BODY_LIMIT });
  app.post('/api/rpc/:name', json, relay((req) => ({ method: 'call', name: String(req.params.name), args: arrayOf(req.body) })));
  app.post('/api/menu/:functionName', relay((req) => ({ method: 'menu', functionName: String(req.params.functionName) })));
  app.post('/api/triggers/:uid/run', relay((req) => ({ method: 'runTrigger', uid: String(req.params.uid) })));
  app.post('/api/edit', json, relay((req) => ({ method: 'edit', row: Number(req.body.row), column: Number(req.body.column), values: req.body.values as string[][] })));
  app.post('/api/sort', json, relay((req) => ({ method: 'sort', column: Number(req.body.column), ascending: req.body.ascending !== false })));
  app.post('/api/filter', json, relay((req) => ({ method: 'filter', text: String(req.body.text ?? '') })));
  app.post('/api/select', json, relay((req) => ({ method: 'select', ranges: req.body.ranges as CellRange[] })));
  app.post('/api/csv', express.text({ limit: BODY_LIMIT, type: () => true }), relay((req) => ({ method: 'loadCsv', text: String(req.body ?? '') })));
  // Errors are the add-on's or the sheet's, in words: the page and google.script.run's failure handler show them.
  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    res.status(500).json({ error: error instanceof Error ? error.message : String(error) });
  });
  return app;
}

function arrayOf(body: unknown): unknown[] {
  if (!Array.isArray(body)) throw new Error('google.script.run arguments must be a JSON array.');
  return body;
}

/** Listens on `host:port` (0: any free port) and resolves with the server and its URL. */
export async function listenPage(app: express.Express, host: string, port: number): Promise<{ server: Server; url: string }> {
  const server = createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  return { server, url: `http://${host}:${address.port}` };
}
