// The page's calls to the playground server. Each resolves with the answer or rejects with the server's words.
import type { CellRange, PlaygroundInfo, PlaygroundState } from '../playground-protocol';

async function send<T>(method: 'GET' | 'POST', path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
  const res = await fetch(path, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': contentType },
    body: body === undefined ? undefined : contentType === 'application/json' ? JSON.stringify(body) : String(body),
  });
  const answer = (await res.json()) as { value?: T; error?: string };
  if (!res.ok) throw new Error(answer.error ?? `${res.status} ${res.statusText}`);
  return answer.value as T;
}

export const playgroundApi = {
  info: async (): Promise<PlaygroundInfo> => (await fetch('/api/info')).json() as Promise<PlaygroundInfo>,
  /** The whole state, or only `{ revision }` when nothing changed since `since`. */
  state: (since: number) => send<PlaygroundState | { revision: number }>('GET', `/api/state?since=${since}`),
  menu: (functionName: string) => send<void>('POST', `/api/menu/${encodeURIComponent(functionName)}`),
  runTrigger: (uid: string) => send<void>('POST', `/api/triggers/${encodeURIComponent(uid)}/run`),
  edit: (row: number, column: number, values: string[][]) => send<void>('POST', '/api/edit', { row, column, values }),
  sort: (column: number, ascending: boolean) => send<void>('POST', '/api/sort', { column, ascending }),
  filter: (text: string) => send<void>('POST', '/api/filter', { text }),
  select: (ranges: CellRange[]) => send<void>('POST', '/api/select', { ranges }),
  loadCsv: (text: string) => send<void>('POST', '/api/csv', text, 'text/csv'),
};
