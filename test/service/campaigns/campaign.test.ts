// The campaign state table as the engine's compare-and-set transitions read it.
import { describe, expect, it } from 'vitest';
import { assertTransition, transitionOf, type CampaignCommand } from '../../../service/campaigns/campaign';

const COMMANDS: CampaignCommand[] = ['start', 'pause', 'resume', 'cancel', 'due', 'finish', 'reopen'];

describe('transitionOf', () => {
  it('names every state a command applies to, each leading to the one target the table gives', () => {
    for (const command of COMMANDS) {
      const { from, to } = transitionOf(command);
      expect(from.length, command).toBeGreaterThan(0);
      for (const state of from) expect(assertTransition(state, command), `${command} from ${state}`).toBe(to);
    }
    expect(transitionOf('pause')).toEqual({ from: ['running', 'scheduled'], to: 'paused' });
    expect(transitionOf('finish')).toEqual({ from: ['running'], to: 'finished' });
  });
});
