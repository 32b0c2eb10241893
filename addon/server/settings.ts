// The user's connection to the service: URL and API key in user properties, checked against GET /v1/account
// before they are saved. Builds the ServiceClient every other server module uses.
import { AddonError } from '../core/addon-error';
import type { SettingsView } from '../core/rpc-api';
import { normaliseServiceUrl, ServiceClient } from './service-client';
import { userState } from './state-store';

/** A client for the saved settings; throws `not_configured` with directions when they are missing. */
export function requireClient(): ServiceClient {
  const serviceUrl = userState.get('serviceUrl');
  const apiKey = userState.get('apiKey');
  if (serviceUrl === '' || apiKey === '') {
    throw new AddonError(
      'not_configured',
      'Connect the add-on first: open Extensions → WhatsApp campaigns → Settings and enter the service URL and your API key.',
    );
  }
  return new ServiceClient({ serviceUrl, apiKey });
}

/** The saved settings, with the account when `checkAccount` and the settings are complete. */
export function readSettings(checkAccount: boolean): SettingsView {
  const serviceUrl = userState.get('serviceUrl');
  const apiKey = userState.get('apiKey');
  const view: SettingsView = {
    serviceUrl,
    hasApiKey: apiKey !== '',
    apiKeyHint: apiKey === '' ? '' : `…${apiKey.slice(-4)}`,
    testNumber: userState.get('testNumber'),
    account: null,
  };
  if (checkAccount && serviceUrl !== '' && apiKey !== '') view.account = requireClient().account();
  return view;
}

/**
 * Checks the URL and key against the service, then saves them. An empty `apiKey` keeps the saved one, so the
 * sidebar never has to echo a secret back. Nothing is saved when the check fails.
 */
export function saveSettings(serviceUrl: string, apiKey: string, testNumber: string): SettingsView {
  const url = normaliseServiceUrl(serviceUrl);
  if (!/^https?:\/\/[^/\s]+/i.test(url)) {
    throw new AddonError('invalid_input', 'Enter the service URL starting with https://, for example https://wa.example.com.');
  }
  const key = apiKey.trim() === '' ? userState.get('apiKey') : apiKey.trim();
  if (key === '') throw new AddonError('invalid_input', 'Paste the API key you were given for your account.');
  new ServiceClient({ serviceUrl: url, apiKey: key }).account();
  userState.set({ serviceUrl: url, apiKey: key, testNumber: testNumber.trim() });
  return readSettings(true);
}
