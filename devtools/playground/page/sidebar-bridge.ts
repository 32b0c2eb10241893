// google.script.run for the add-on's sidebar in the playground: each call is POSTed to the playground server, which
// runs it in Code.js, and its result (or failure) comes back to the handlers, asynchronously as in Apps Script.
// Loaded by a <script> the server puts first in the sidebar's <head>, before the sidebar's own script runs.

type Handler = (value: unknown, userObject?: unknown) => void;

interface Runner {
  withSuccessHandler(fn: Handler): Runner;
  withFailureHandler(fn: Handler): Runner;
  withUserObject(user: unknown): Runner;
}

function runner(onSuccess: Handler | null, onFailure: Handler | null, userObject: unknown): Runner {
  return new Proxy({} as Runner, {
    get(_target, prop) {
      if (prop === 'withSuccessHandler') return (fn: Handler) => runner(fn, onFailure, userObject);
      if (prop === 'withFailureHandler') return (fn: Handler) => runner(onSuccess, fn, userObject);
      if (prop === 'withUserObject') return (user: unknown) => runner(onSuccess, onFailure, user);
      if (typeof prop !== 'string') return undefined;
      return (...args: unknown[]): void => {
        fetch(`/api/rpc/${encodeURIComponent(prop)}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(args) })
          .then(async (res) => {
            const answer = (await res.json()) as { value?: unknown; error?: string };
            if (res.ok) onSuccess?.(answer.value, userObject);
            else onFailure?.(new Error(answer.error ?? `${res.status}`), userObject);
          })
          .catch((error: unknown) => onFailure?.(error instanceof Error ? error : new Error(String(error)), userObject));
      };
    },
  });
}

(window as unknown as { google: unknown }).google = {
  script: {
    run: runner(null, null, undefined),
    host: {
      close: () => window.parent.postMessage({ type: 'playground:close-sidebar' }, '*'),
      setHeight: () => undefined,
      setWidth: () => undefined,
      editor: { focus: () => window.parent.focus() },
    },
  },
};
