// The account's opt-out list: GET, POST {to}, DELETE /:to. A listed number's rows end as `skipped`, never sent.
import { Router } from 'express';
import { normaliseRecipient } from '../campaigns/phone-number';
import { AppError } from '../errors';
import { accountOf } from './auth';
import { parseOrThrow, suppressionBody } from './contract';
import type { SuppressionEntry } from '../service-store';

export interface SuppressionList {
  listSuppressions(accountId: string): Promise<SuppressionEntry[]>;
  addSuppression(accountId: string, to: string, source: string, nowMs: number): Promise<void>;
  removeSuppression(accountId: string, to: string): Promise<boolean>;
}

export function suppressionRoutes(list: SuppressionList, now: () => number): Router {
  const router = Router();
  // A person is named by number or, for a username-only WhatsApp user, by business-scoped user id (used whole).
  const normalise = (raw: string, defaultCountry: string | null): string => {
    const phone = normaliseRecipient(raw, defaultCountry);
    if (!phone.ok) throw new AppError('invalid_phone', phone.message);
    return phone.e164;
  };

  router.get('/suppressions', async (req, res) => {
    const items = (await list.listSuppressions(accountOf(req).id))
      .map((s) => ({
        ...(s.to !== null ? { to: s.to } : {}), ...(s.userId !== null ? { userId: s.userId } : {}),
        source: s.source, createdAt: new Date(s.createdAt).toISOString(),
      }));
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
