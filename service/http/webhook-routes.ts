// Meta's webhook endpoint: the GET verify handshake and signed POSTs, read as raw bytes (the signature is over them).
import express, { Router } from 'express';
import { timingSafeEqual } from 'node:crypto';
import type { WebhookProcessor } from '../webhooks/webhook-processor';

/** Meta sends at most 3 MB per POST (CLOUD_API.md 5.5). */
export const WEBHOOK_BODY_LIMIT = '3mb';

function sameText(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

export function webhookRoutes(webhooks: WebhookProcessor): Router {
  const router = Router();

  router.get('/whatsapp/:accountId', async (req, res) => {
    const mode = req.query['hub.mode'];
    const token = req.query['hub.verify_token'];
    const challenge = req.query['hub.challenge'];
    const expected = await webhooks.verifyToken(req.params.accountId);
    if (mode === 'subscribe' && typeof token === 'string' && typeof challenge === 'string' && expected !== null
      && sameText(token, expected)) {
      res.status(200).type('text/plain').send(challenge);
      return;
    }
    res.status(403).json({ error: { code: 'forbidden', message: 'The verify token does not match this account.' } });
  });

  router.post('/whatsapp/:accountId', express.raw({ type: () => true, limit: WEBHOOK_BODY_LIMIT }), async (req, res) => {
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    // Answered once the body is committed; a store failure rejects into the error mapper (500), and Meta retries.
    const result = await webhooks.receive(req.params.accountId, body, req.header('x-hub-signature-256'));
    if (result === 'accepted') {
      res.status(200).end();
    } else if (result === 'unknown_account') {
      res.status(404).json({ error: { code: 'not_found', message: 'No such account.' } });
    } else {
      res.status(401).json({ error: { code: 'bad_signature', message: 'X-Hub-Signature-256 does not match the body.' } });
    }
  });

  return router;
}
