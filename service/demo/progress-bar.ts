// The demo's live progress line: a pure renderer from the add-on's funnel, and a writer that redraws it in place on a
// terminal (\r) or prints a plain line now and then when the output is a file or a pipe.
import type { Funnel } from '../../addon/core/funnel';

const EIGHTHS = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];

/** A bar `width` cells wide for `share` (0–1, clamped), in eighth-of-a-cell steps. */
export function renderBar(share: number, width: number): string {
  // Rounded down, so the bar is full only when the share is: 99.6% never looks finished.
  const eighths = Math.floor(Math.min(1, Math.max(0, share)) * width * 8);
  const full = Math.floor(eighths / 8);
  const partial = EIGHTHS[eighths % 8]!;
  return '█'.repeat(full) + partial + ' '.repeat(width - full - (partial ? 1 : 0));
}

/** `sending`: rows still queued; `receipts`: every row settled, waiting for delivered/read/replies to stop arriving. */
export type ProgressPhase = 'sending' | 'receipts';

export interface ProgressSnapshot {
  phase: ProgressPhase;
  funnel: Funnel;
  elapsedMs: number;
}

/** One line: phase, bar, settled rows of all, share, the funnel's steps so far, and the time since sending began. */
export function renderProgress(s: ProgressSnapshot, width = 24): string {
  const f = s.funnel;
  const settled = f.total - f.waiting;
  const steps = [
    `sent ${n(f.sent)}`, `delivered ${n(f.delivered)}`, `read ${n(f.read)}`, `replied ${n(f.replied)}`,
    `failed ${n(f.failed)}`, `skipped ${n(f.skipped)}`,
  ];
  const percent = `${Math.floor(f.progress * 100)}%`.padStart(4);
  return `${s.phase.padEnd(8)} ▕${renderBar(f.progress, width)}▏ ${percent} ${n(settled)}/${n(f.total)} · ${steps.join(' · ')} · ${seconds(s.elapsedMs)}`;
}

/** Where the progress goes: a stream, and whether it is an interactive terminal (and how wide). */
export interface ProgressOutput {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/**
 * Shows successive progress lines. On a terminal each line replaces the last (cut to the terminal width so it never
 * wraps, which would break the redraw); elsewhere a line is printed at most every `plainEveryMs`, plus the final one.
 */
export class ProgressLine {
  private lastText = '';
  private lastPlainAtMs = -Infinity;
  private isOpen = false;

  constructor(private readonly out: ProgressOutput, private readonly plainEveryMs = 2000) {}

  update(text: string, nowMs: number): void {
    if (this.out.isTTY) {
      if (text === this.lastText) return;
      this.out.write(`\r${this.fit(text)}\x1b[K`);
      this.isOpen = true;
    } else if (nowMs - this.lastPlainAtMs >= this.plainEveryMs && text !== this.lastText) {
      this.out.write(`${text}\n`);
      this.lastPlainAtMs = nowMs;
    }
    this.lastText = text;
  }

  /** Shows `text` as the final state and ends the line, so later output starts on a fresh one. */
  finish(text: string): void {
    if (this.out.isTTY) this.out.write(`\r${this.fit(text)}\x1b[K\n`);
    else if (text !== this.lastText || this.lastPlainAtMs === -Infinity) this.out.write(`${text}\n`);
    this.lastText = text;
    this.isOpen = false;
  }

  /** Ends a line left open by `update` (before printing an error, say); a no-op otherwise. */
  close(): void {
    if (this.isOpen) this.out.write('\n');
    this.isOpen = false;
  }

  private fit(text: string): string {
    const columns = this.out.columns;
    if (!columns || columns < 20) return text;
    const chars = [...text];
    return chars.length < columns ? text : `${chars.slice(0, columns - 2).join('')}…`;
  }
}

function n(value: number): string {
  return value.toLocaleString('en-US');
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
