// Bearer API key → the caller's account. Every /v1 route runs behind it; nothing below sees another account.
import type { NextFunction, Request, Response } from 'express';
import type { Account, AccountStore } from '../campaigns/ports';
import { AppError } from '../errors';

declare module 'express-serve-static-core' {
  interface Request {
    account?: Account;
  }
}

export function requireApiKey(store: AccountStore, hashApiKey: (key: string) => string) {
  return async (req: Request, _res: Response, next: NextFunction): Promise<void> => {
    const header = req.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) {
      next(new AppError('unauthorized', 'Send your API key as "Authorization: Bearer <key>".'));
      return;
    }
    // Lookup is by the key's SHA-256 through a unique index: the secret itself is never compared or stored.
    let account;
    try {
      account = await store.getAccountByApiKeyHash(hashApiKey(match[1] as string));
    } catch (error) {
      next(error);
      return;
    }
    if (!account) {
      next(new AppError('unauthorized', 'This API key is not valid. Check it in the add-on settings.'));
      return;
    }
    req.account = account;
    next();
  };
}

/** The authenticated account (the middleware guarantees it). */
export function accountOf(req: Request): Account {
  if (!req.account) throw new AppError('unauthorized', 'Not authenticated.');
  return req.account;
}
