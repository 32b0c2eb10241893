// Starts `npm run playground`'s program (dist/playground/playground.js, built first) as a child process on a free
// port, and resolves with the URL it prints. Its DATA_DIR is a temp folder it removes itself when stopped.
import { execFileSync, spawn } from 'node:child_process';
import { resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '../../..');

export interface RunningPlayground {
  url: string;
  /** Everything it printed to stderr so far (the add-on's and the service's errors). */
  stderr(): string;
  stop(): Promise<void>;
}

/** Builds the add-on and the playground as `npm run playground` does. */
export function buildPlayground(): void {
  execFileSync(process.execPath, ['build-addon.mjs', '--quiet'], { cwd: ROOT, stdio: 'inherit' });
  execFileSync(process.execPath, ['build-playground.mjs', '--quiet'], { cwd: ROOT, stdio: 'inherit' });
}

export async function startPlayground(args: readonly string[]): Promise<RunningPlayground> {
  const { DATA_DIR: _ignored, ...env } = process.env;
  const child = spawn(process.execPath, [resolve(ROOT, 'dist/playground/playground.js'), '--port', '0', ...args], {
    cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const url = await new Promise<string>((res, rej) => {
    let out = '';
    const timer = setTimeout(() => rej(new Error(`the playground printed no URL within 30 s; stderr: ${stderr}`)), 30_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /^Playground: (http:\/\/\S+) /m.exec(out);
      if (m) {
        clearTimeout(timer);
        res(m[1]!);
      }
    });
    child.once('exit', (code) => rej(new Error(`the playground exited with ${code}: ${stderr}`)));
  });
  return {
    url,
    stderr: () => stderr,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}
