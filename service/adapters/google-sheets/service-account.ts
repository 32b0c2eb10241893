// Reads a Google service-account key file and builds the sheet writer from it. Reads only the path it is given:
// config.ts owns GOOGLE_APPLICATION_CREDENTIALS.
import { readFileSync } from 'node:fs';
import { google } from 'googleapis';
import { z } from 'zod';
import { AppError } from '../../errors';
import { GoogleSheetsWriter, type GoogleSheetsWriterOptions } from './google-sheets-writer';

/** The scope write-back needs: read and write the spreadsheets shared with the service account, nothing else. */
const SPREADSHEETS_SCOPE = 'https://www.googleapis.com/auth/spreadsheets';

const serviceAccountKeySchema = z.object({
  type: z.literal('service_account').optional(),
  client_email: z.email(),
  private_key: z.string().min(1),
});

/** The parts of a service-account key file the service uses. */
export interface ServiceAccountKey {
  clientEmail: string;
  privateKey: string;
}

/**
 * Reads and checks a service-account JSON key file.
 * @throws AppError `internal` when the file cannot be read or is not a service-account key (fail fast at startup).
 */
export function readServiceAccountKey(path: string): ServiceAccountKey {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (cause) {
    throw new AppError('internal', `Cannot read the Google service-account key file ${path}`, { cause });
  }
  const result = serviceAccountKeySchema.safeParse(parsed);
  if (!result.success) {
    throw new AppError('internal', `${path} is not a Google service-account key file (client_email and private_key are required)`, {
      cause: result.error,
    });
  }
  return { clientEmail: result.data.client_email, privateKey: result.data.private_key };
}

/**
 * The sheet writer for a service-account key file, or null when no path is configured (write-back is then off and
 * the add-on's pull sync fills the sheet). No network call happens here: the token is fetched on the first write.
 * @throws AppError `internal` when a path is given but is not a readable service-account key.
 */
export function createSheetWriterFromCredentials(
  path: string | undefined,
  options: Omit<GoogleSheetsWriterOptions, 'auth' | 'serviceAccountEmail'> = {},
): GoogleSheetsWriter | null {
  if (path === undefined || path.trim() === '') return null;
  const key = readServiceAccountKey(path);
  const auth = new google.auth.JWT({ email: key.clientEmail, key: key.privateKey, scopes: [SPREADSHEETS_SCOPE] });
  return new GoogleSheetsWriter({ ...options, auth, serviceAccountEmail: key.clientEmail });
}
