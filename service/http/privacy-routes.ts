// The account's privacy routes: GET /account/export (streamed JSON), DELETE /account, DELETE /contacts/:to.
// Everything is the authenticated account's own; the domain in service/privacy does the work.
import type { Response } from 'express';
import { Router } from 'express';
import type { Logger } from '../campaigns/ports';
import { AppError } from '../errors';
import type { AccountErasure } from '../privacy/account-erasure';
import { writeAccountExport, type ExportSink } from '../privacy/account-export';
import type { ContactErasure } from '../privacy/contact-erasure';
import type { AccountExportSource } from '../privacy/privacy-ports';
import { accountOf } from './auth';

export interface PrivacyRouteDeps {
  exports: AccountExportSource;
  accountErasure: Pick<AccountErasure, 'erase'>;
  contactErasure: Pick<ContactErasure, 'erase'>;
  now(): number;
  logger: Logger;
}

/**
 * Writes to `res` honouring backpressure: resolves once the socket has taken the chunk (after 'drain' when its
 * buffer was full) and rejects when the client has gone. Even a chunk taken at once lets the event loop turn, so a
 * fast reader cannot keep the export running without other requests being served.
 */
function responseSink(res: Response): ExportSink {
  return {
    write: (chunk) => new Promise<void>((resolve, reject) => {
      if (res.destroyed || res.writableEnded) {
        reject(new Error('The client closed the export.'));
        return;
      }
      if (res.write(chunk)) {
        setImmediate(resolve);
        return;
      }
      const settle = (error?: Error): void => {
        res.off('drain', onDrain);
        res.off('close', onClose);
        if (error) reject(error);
        else resolve();
      };
      const onDrain = (): void => settle();
      const onClose = (): void => settle(new Error('The client closed the export.'));
      res.on('drain', onDrain);
      res.on('close', onClose);
    }),
  };
}

export function privacyRoutes(deps: PrivacyRouteDeps): Router {
  const router = Router();

  // Express 5 passes a rejected handler's error to the error handler: a failure before the status line is sent
  // (opening the snapshot, no such account) is answered as any other error.
  router.get('/account/export', async (req, res) => {
    const account = accountOf(req);
    const snapshot = await deps.exports.openSnapshot(account.id);
    if (!snapshot) throw new AppError('not_found', 'This account no longer exists.');
    res.status(200);
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.setHeader('Content-Disposition', `attachment; filename="account-${account.id}.json"`);
    res.setHeader('Cache-Control', 'no-store');
    try {
      await writeAccountExport(snapshot, responseSink(res), deps.now());
      res.end();
    } catch (error) {
      // The status line is gone already: cut the connection so the client sees a broken download, not a short one.
      deps.logger.warn({ accountId: account.id, error: String(error) }, 'account export stopped');
      res.destroy();
    }
  });

  router.delete('/account', async (req, res) => {
    const account = accountOf(req);
    const erased = await deps.accountErasure.erase(account);
    deps.logger.info({ accountId: account.id, ...erased }, 'account erased');
    res.json({ id: account.id, erased });
  });

  router.delete('/contacts/:to', async (req, res) => {
    const account = accountOf(req);
    const { to, messages, replies, isStillSuppressed } = await deps.contactErasure.erase(account, req.params.to as string);
    res.json({ to, erased: { messages, replies }, suppressed: isStillSuppressed });
  });

  return router;
}
