// The worker thread the playground's Apps Script runs in: Code.js's UrlFetch calls block their thread (as Apps
// Script's do), so they must not share the service's event loop. Answers the page server's requests one by one.
import { parentPort, workerData } from 'node:worker_threads';
import { SystemClock } from '../../service/adapters/system/system-clock';
import { AppsScriptHost, type AppsScriptHostOptions } from './apps-script-host';
import type { HostReply, HostRequest } from './playground-protocol';

/** What the main thread passes to the worker (everything but the clock, which is the worker's own). */
export type AppsScriptWorkerData = Omit<AppsScriptHostOptions, 'clock'>;

const port = parentPort;
if (!port) throw new Error('apps-script-worker runs as a worker thread');

const host = new AppsScriptHost({ ...(workerData as AppsScriptWorkerData), clock: new SystemClock() });
try {
  host.open();
  port.postMessage({ ready: true });
} catch (error) {
  port.postMessage({ ready: false, error: error instanceof Error ? error.message : String(error) });
}

port.on('message', (message: { id: number; request: HostRequest } | { close: true }) => {
  if ('close' in message) {
    void Promise.resolve(host.close()).finally(() => port.close());
    return;
  }
  let reply: HostReply;
  try {
    reply = { id: message.id, ok: true, value: host.handle(message.request) };
  } catch (error) {
    reply = { id: message.id, ok: false, error: error instanceof Error ? error.message : String(error) };
  }
  port.postMessage(reply);
});
