// The account's own opt-out words, on top of the built-in list: GET and PUT /v1/account/opt-out-words.
// A reply that is only one of these words puts the number on the opt-out list (webhooks/inbound-replies.ts).
import { Router } from 'express';
import { z } from 'zod';
import { DEFAULT_OPT_OUT_WORDS, normaliseReply } from '../webhooks/opt-out-words';
import { accountOf } from './auth';
import { parseOrThrow } from './contract';

export const MAX_OPT_OUT_WORDS = 200;

export interface OptOutWordStore {
  setOptOutWords(accountId: string, words: readonly string[]): Promise<void>;
}

const optOutWordsBody = z.object({
  words: z.array(
    z.string().max(60).refine((w) => normaliseReply(w) !== '', 'a word must have a letter or digit'),
  ).max(MAX_OPT_OUT_WORDS, `at most ${MAX_OPT_OUT_WORDS} words`),
});

export function optOutWordRoutes(store: OptOutWordStore): Router {
  const router = Router();
  const present = (custom: readonly string[]) => ({ builtIn: DEFAULT_OPT_OUT_WORDS, custom });

  router.get('/account/opt-out-words', (req, res) => {
    res.json(present(accountOf(req).optOutWords));
  });

  // Replaces the account's list. Words are kept as matched: lower case, outer punctuation and spaces dropped.
  router.put('/account/opt-out-words', async (req, res) => {
    const { words } = parseOrThrow(optOutWordsBody, req.body);
    const custom = [...new Set(words.map(normaliseReply))].filter((w) => !DEFAULT_OPT_OUT_WORDS.includes(w));
    await store.setOptOutWords(accountOf(req).id, custom);
    res.json(present(custom));
  });

  return router;
}
