// The account's opt-out list: GET, POST {to}, DELETE /:to. A listed number's rows end as `skipped`, never sent.
import { Router } from 'express';
import { normalisePhoneNumber } from '../campaigns/phone-number';
import { AppError } from '../errors';
import { accountOf } from './auth';
import { parseOrThrow, suppressionBody } from './contract';

export interface SuppressionList {
  listSuppressions(accountId: string): Promise<{ to: string; source: string; createdAt: number }[]>;
  addSuppression(accountId: string, to: string, source: string, nowMs: number): Promise<void>;
  removeSuppression(accountId: string, to: string): Promise<boolean>;
}

export function suppressionRoutes(list: SuppressionList, now: () => number): Router {
  const router = Router();
  const normalise = (raw: string, defaultCountry: string | null): string => {
    const phone = normalisePhoneNumber(raw, defaultCountry);
    if (!phone.ok) throw new AppError('invalid_phone', phone.message);
    return phone.e164;
  };

  router.get('/suppressions', async (req, res) => {
    const items = (await list.listSuppressions(accountOf(req).id))
      .map((s) => ({ to: s.to, source: s.source, createdAt: new Date(s.createdAt).toISOString() }));
    res.json({ suppressions: items });
  });

  router.post('/suppressions', async (req, res) => {
    const account = accountOf(req);
    const to = normalise(parseOrThrow(suppressionBody, req.body).to, account.defaultCountry);
    await list.addSuppression(account.id, to, 'api', now());
    res.status(201).json({ to });
  });

  router.delete('/suppressions/:to', async (req, res) => {
    const account = accountOf(req);
    const to = normalise(req.params.to, account.defaultCountry);
    if (!(await list.removeSuppression(account.id, to))) throw new AppError('not_found', `${to} is not on the opt-out list.`);
    res.json({ to, removed: true });
  });

  return router;
}
