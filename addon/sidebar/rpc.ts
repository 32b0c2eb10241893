// Typed promise wrapper over google.script.run: call('startSend', config) resolves with the RPC's value or rejects
// with its {code, message}. The only place the sidebar talks to the server.
import type { ErrorInfo } from '../core/addon-error';
import type { AddonRpc, RpcResult } from '../core/rpc-api';

interface ScriptRunner {
  withSuccessHandler(fn: (value: unknown) => void): ScriptRunner;
  withFailureHandler(fn: (error: Error) => void): ScriptRunner;
  [name: string]: unknown;
}

declare const google: { script: { run: ScriptRunner } };

/** Calls a server RPC. Rejects with ErrorInfo; a failure of the bridge itself (timeout, auth) becomes `internal`. */
export function call<K extends keyof AddonRpc>(name: K, ...args: Parameters<AddonRpc[K]>): Promise<ReturnType<AddonRpc[K]>> {
  return new Promise((resolve, reject) => {
    const runner = google.script.run
      .withSuccessHandler((result) => {
        const r = result as RpcResult<ReturnType<AddonRpc[K]>> | null;
        if (r && r.ok) resolve(r.value);
        else reject(r ? r.error : ({ code: 'internal', message: 'The add-on answered nothing.' } satisfies ErrorInfo));
      })
      .withFailureHandler((error) => {
        reject({ code: 'internal', message: error?.message || 'The add-on could not be reached. Reload the sidebar.' } satisfies ErrorInfo);
      });
    (runner[name] as (...a: unknown[]) => void)(...args);
  });
}
