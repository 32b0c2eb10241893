// The main thread's handle on the Apps Script worker: starts it, relays requests and matches answers by id.
import { Worker } from 'node:worker_threads';
import type { AppsScriptWorkerData } from './apps-script-worker';
import type { HostReply, HostRequest } from './playground-protocol';

export class AppsScriptWorkerClient {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  /** Resolves with the exit code when the worker stops, whether asked to or not. */
  readonly exited: Promise<number>;

  private constructor(private readonly worker: Worker) {
    this.exited = new Promise((resolve) => worker.once('exit', resolve));
    worker.on('message', (m: HostReply | { ready: boolean }) => {
      if (!('id' in m)) return;
      const waiter = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (m.ok) waiter?.resolve(m.value);
      else waiter?.reject(new Error(m.error));
    });
    worker.on('exit', (code) => {
      for (const w of this.pending.values()) w.reject(new Error(`The Apps Script worker stopped (exit code ${code}).`));
      this.pending.clear();
    });
  }

  /** Starts the worker at `scriptUrl` and resolves once the add-on is open (menu, connection, sidebar). */
  static async start(scriptUrl: URL, data: AppsScriptWorkerData): Promise<AppsScriptWorkerClient> {
    const worker = new Worker(scriptUrl, { workerData: data });
    await new Promise<void>((resolve, reject) => {
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`The Apps Script worker exited (code ${code}) before it was ready.`)));
      worker.once('message', (m: { ready?: boolean; error?: string }) => {
        if (m.ready) resolve();
        else reject(new Error(m.error ?? 'The Apps Script worker failed to start.'));
      });
    });
    return new AppsScriptWorkerClient(worker);
  }

  request(request: HostRequest): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, request });
    });
  }

  /** Stops the triggers and the HTTP bridge, then the worker (forcefully after a second). */
  async stop(): Promise<void> {
    this.worker.postMessage({ close: true });
    const timer = setTimeout(() => void this.worker.terminate(), 1000);
    await this.exited;
    clearTimeout(timer);
  }
}
