import { describe, expect, it } from 'vitest';
import { fetchExceptionFor, serviceErrorFor } from '../../../addon/core/error-messages';
import { AddonError, toErrorInfo } from '../../../addon/core/addon-error';

const url = 'https://svc.example.com';
const body = (code: string, message = 'm') => ({ error: { code, message } });

describe('serviceErrorFor', () => {
  it('says a bad key is a bad key and where to fix it', () => {
    const e = serviceErrorFor(401, body('unauthorized'), url);
    expect(e.code).toBe('bad_key');
    expect(e.message).toMatch(/API key.*Settings/);
  });
  it('calls a template parameter error a template mismatch', () => {
    expect(serviceErrorFor(400, body('template_params', 'param 2 missing'), url)).toMatchObject({ code: 'template_mismatch', message: expect.stringMatching(/param 2 missing/) });
  });
  it('recognises spent quota by status and by code', () => {
    expect(serviceErrorFor(429, null, url).code).toBe('quota_exceeded');
    expect(serviceErrorFor(409, body('daily_limit'), url).code).toBe('quota_exceeded');
  });
  it('treats 5xx as the service being unreachable, naming the address', () => {
    expect(serviceErrorFor(502, null, url)).toMatchObject({ code: 'service_unreachable', message: expect.stringContaining(url) });
  });
  it('passes other 4xx messages through', () => {
    expect(serviceErrorFor(400, body('invalid_request', 'sendAt must be in the future'), url).message).toBe('sendAt must be in the future');
  });
});

describe('fetchExceptionFor', () => {
  it('distinguishes the UrlFetch daily quota from an unreachable host', () => {
    expect(fetchExceptionFor(new Error('Service invoked too many times for one day: urlfetch.'), url).code).toBe('apps_script_quota');
    expect(fetchExceptionFor(new Error('DNS error: https://svc.example.com'), url).code).toBe('service_unreachable');
  });
});

describe('toErrorInfo', () => {
  it('keeps AddonError codes and marks anything else internal', () => {
    expect(toErrorInfo(new AddonError('busy', 'wait'))).toEqual({ code: 'busy', message: 'wait' });
    expect(toErrorInfo(new TypeError('x is undefined')).code).toBe('internal');
  });
});
