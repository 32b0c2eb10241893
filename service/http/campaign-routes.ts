// /v1 routes for templates, campaigns, rows, lifecycle commands, the changes feed, preview and test sends.
import { Router } from 'express';
import type { CampaignService } from '../campaigns/campaign-service';
import { accountOf } from './auth';
import {
  createCampaignBody, messagesQuery, parseOrThrow, parseRows, previewBody, rowsBody, testSendBody,
} from './contract';
import { presentCampaign, presentMessage, presentTemplate } from './presenters';

export function campaignRoutes(campaigns: CampaignService): Router {
  const router = Router();

  router.get('/templates', async (req, res) => {
    const templates = await campaigns.approvedTemplates(accountOf(req));
    res.json({ templates: templates.map(presentTemplate) });
  });

  router.post('/campaigns', async (req, res) => {
    const body = parseOrThrow(createCampaignBody, req.body);
    const campaign = await campaigns.createCampaign(accountOf(req), {
      name: body.name,
      template: body.template,
      sendAt: body.sendAt ? Date.parse(body.sendAt) : null,
      defaultCountry: body.defaultCountry?.toUpperCase() ?? null,
      sheet: body.sheet ?? null,
    });
    res.status(201).json(presentCampaign(campaign));
  });

  router.get('/campaigns', async (req, res) => {
    res.json({ campaigns: (await campaigns.list(accountOf(req))).map((c) => presentCampaign(c)) });
  });

  router.get('/campaigns/:id', async (req, res) => {
    const { campaign, counts } = await campaigns.view(accountOf(req), req.params.id);
    res.json(presentCampaign(campaign, counts));
  });

  router.post('/campaigns/:id/rows', async (req, res) => {
    const body = parseOrThrow(rowsBody, req.body);
    res.json(await campaigns.addRows(accountOf(req), req.params.id, parseRows(body.rows)));
  });

  router.post('/campaigns/:id/start', async (req, res) => {
    res.json({ state: await campaigns.start(accountOf(req), req.params.id) });
  });
  router.post('/campaigns/:id/pause', async (req, res) => {
    res.json({ state: await campaigns.pause(accountOf(req), req.params.id) });
  });
  router.post('/campaigns/:id/resume', async (req, res) => {
    res.json({ state: await campaigns.resume(accountOf(req), req.params.id) });
  });
  router.post('/campaigns/:id/cancel', async (req, res) => {
    res.json({ state: await campaigns.cancel(accountOf(req), req.params.id) });
  });
  router.post('/campaigns/:id/retry-unknown', async (req, res) => {
    res.json({ requeued: await campaigns.retryUnknown(accountOf(req), req.params.id) });
  });

  router.get('/campaigns/:id/messages', async (req, res) => {
    const query = parseOrThrow(messagesQuery, req.query);
    const after = Number(query.after ?? 0);
    const items = await campaigns.messages(accountOf(req), req.params.id, after, query.limit);
    const last = items.at(-1);
    res.json({ items: items.map(presentMessage), next: String(last ? last.seq : after) });
  });

  router.post('/preview', async (req, res) => {
    const body = parseOrThrow(previewBody, req.body);
    const rows = await campaigns.preview(accountOf(req), body.template, body.defaultCountry?.toUpperCase() ?? null, parseRows(body.rows));
    res.json({
      // `frequencyCapped`: WhatsApp will refuse it for certain (a marketing template to a US number, 131049).
      rows: rows.map((r) => ({
        key: r.key, to: r.to, ok: r.ok, ...(r.error ? { error: r.error } : {}), text: r.text, ...(r.isAlwaysCapped ? { frequencyCapped: true } : {}),
      })),
      counts: {
        valid: rows.filter((r) => r.ok).length,
        invalid: rows.filter((r) => r.error && r.error.code !== 'duplicate_recipient' && r.error.code !== 'opted_out').length,
        duplicate: rows.filter((r) => r.isDuplicate).length,
        optedOut: rows.filter((r) => r.isOptedOut).length,
        frequencyCapped: rows.filter((r) => r.isAlwaysCapped).length,
      },
    });
  });

  router.post('/test-send', async (req, res) => {
    const body = parseOrThrow(testSendBody, req.body);
    res.json(await campaigns.testSend(accountOf(req), body.template, body.to, body.params, body.headerMedia ?? null));
  });

  return router;
}
