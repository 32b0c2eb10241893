// The demo's progress line: the bar's arithmetic, the rendered line, and redraw-in-place versus plain periodic lines.
import { describe, expect, it } from 'vitest';
import { funnelFrom } from '../../../addon/core/funnel';
import { ProgressLine, renderBar, renderProgress } from '../../../service/demo/progress-bar';

function sink(isTTY: boolean, columns?: number) {
  const writes: string[] = [];
  return { writes, out: { isTTY, ...(columns ? { columns } : {}), write: (t: string) => writes.push(t) } };
}

describe('renderBar', () => {
  it('fills whole cells, then one partial cell in eighths, then pads to the width', () => {
    expect(renderBar(0, 4)).toBe('    ');
    expect(renderBar(1, 4)).toBe('████');
    expect(renderBar(0.5, 4)).toBe('██  ');
    expect(renderBar(0.5 + 1 / 32, 4)).toBe('██▏ ');
    expect([...renderBar(0.37, 10)]).toHaveLength(10);
  });

  it('clamps shares outside 0–1', () => {
    expect(renderBar(-1, 3)).toBe('   ');
    expect(renderBar(7, 3)).toBe('███');
  });
});

describe('renderProgress', () => {
  it('shows the phase, settled rows of all, the share and every funnel step', () => {
    const funnel = funnelFrom({ queued: 40, sending: 10, sent: 20, delivered: 15, read: 10, failed: 4, skipped: 1, replied: 2 });
    const line = renderProgress({ phase: 'sending', funnel, elapsedMs: 6_420 }, 10);
    expect(line).toBe('sending  ▕█████     ▏  50% 50/100 · sent 45 · delivered 25 · read 10 · replied 2 · failed 4 · skipped 1 · 6.4 s');
  });

  it('uses thousands separators', () => {
    const funnel = funnelFrom({ read: 1500, queued: 500 });
    expect(renderProgress({ phase: 'sending', funnel, elapsedMs: 0 })).toContain('1,500/2,000');
  });
});

describe('ProgressLine', () => {
  it('redraws one line in place on a terminal, skipping unchanged text, and ends it with a line break', () => {
    const { writes, out } = sink(true);
    const line = new ProgressLine(out);
    line.update('one', 0);
    line.update('one', 10);
    line.update('two', 20);
    line.finish('done');
    expect(writes).toEqual(['\rone\x1b[K', '\rtwo\x1b[K', '\rdone\x1b[K\n']);
  });

  it('cuts a line to the terminal width so it never wraps', () => {
    const { writes, out } = sink(true, 20);
    new ProgressLine(out).update('x'.repeat(30), 0);
    expect(writes[0]).toBe(`\r${'x'.repeat(18)}…\x1b[K`);
  });

  it('prints plain lines at most every interval when the output is not a terminal, and always the final one', () => {
    const { writes, out } = sink(false);
    const line = new ProgressLine(out, 1000);
    line.update('a', 0);
    line.update('b', 500);
    line.update('c', 1000);
    line.update('d', 1500);
    line.finish('e');
    expect(writes).toEqual(['a\n', 'c\n', 'e\n']);
  });

  it('does not repeat the final line when it was just printed', () => {
    const { writes, out } = sink(false);
    const line = new ProgressLine(out, 1000);
    line.update('same', 0);
    line.finish('same');
    expect(writes).toEqual(['same\n']);
  });

  it('closes a line left open on a terminal before other output', () => {
    const { writes, out } = sink(true);
    const line = new ProgressLine(out);
    line.close();
    line.update('half', 0);
    line.close();
    expect(writes).toEqual(['\rhalf\x1b[K', '\n']);
  });
});
